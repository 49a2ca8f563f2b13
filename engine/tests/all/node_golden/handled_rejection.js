// A rejection handled later in the same turn is not unhandled.
const p = Promise.reject(new Error('handled'));
p.catch((e) => console.log('caught', e.message));
(async () => { try { await Promise.reject(new Error('awaited')); } catch (e) { console.log('caught', e.message); } })();
