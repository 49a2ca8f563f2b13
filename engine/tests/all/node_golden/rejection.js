// An unhandled rejection ends the run with exit code 1.
console.log('before');
Promise.reject(new Error('nobody catches this'));
setTimeout(() => console.log('never'), 30);
