// process.exit(n) ends the program at once, from inside a timer.
console.log('start');
setTimeout(() => { console.log('exiting'); process.exit(4); console.log('never'); }, 5);
setTimeout(() => console.log('never either'), 50);
