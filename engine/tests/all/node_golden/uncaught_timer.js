// An exception thrown in a timer callback is uncaught too.
console.log('before');
setTimeout(() => { throw new RangeError('from a timer'); }, 1);
setTimeout(() => console.log('never'), 30);
