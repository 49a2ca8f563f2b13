// An uncaught exception ends the run with exit code 1 and prints the error.
console.log('before');
function fail() { throw new TypeError('bad thing'); }
setTimeout(() => console.log('never'), 10);
fail();
