// process.exitCode and the 'exit' event.
process.on('exit', (code) => console.log('exit event', code));
console.log('working');
setTimeout(() => { console.log('timer ran'); process.exitCode = 3; }, 5);
