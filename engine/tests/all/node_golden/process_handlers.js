// process.on('uncaughtException') and ('unhandledRejection') listeners keep the program going.
process.on('uncaughtException', (err, origin) => console.log('uncaught:', err.message, origin));
process.on('unhandledRejection', (reason) => console.log('unhandled:', reason.message));
setTimeout(() => { throw new Error('from a timer'); }, 5);
setTimeout(() => Promise.reject(new Error('rejected later')), 20);
setTimeout(() => console.log('still running'), 40);
console.log('main done');
