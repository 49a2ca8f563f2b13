// SoulBox's Node.js layer for QuickJS-NG: evaluated once by session.c at boot (and so frozen
// into the pre-initialised image), never shipped per run. It is one function expression; the
// glue calls it with its natives and keeps the returned hooks in C's hands.
//
// natives: { std, os, runJobs(), exit(code), promiseState(p) -> [state, value], randomBytes(n)
//            -> ArrayBuffer, takeRejections() -> [reason...], evalScript(src, filename),
//            evalModule(src, filename), errnoName(n), hostCall(frame) -> reply frame | status }
// returns: { configure(json), runMain(src, isModule), loop(), report(err), inspect(v),
//            resolveImport(base, spec), loadFor(id) }
(function (natives) {
  'use strict';
  const { std, os } = natives;
  const G = globalThis;
  const define = (obj, name, value) =>
    Object.defineProperty(obj, name, { value, writable: true, configurable: true, enumerable: false });

  // ---------------------------------------------------------------- util.inspect
  const customInspect = Symbol.for('nodejs.util.inspect.custom');
  const bufferTag = Symbol('soulbox.buffer');
  const defaults = { depth: 2, breakLength: 80, compact: 3, showHidden: false, sorted: false,
    maxArrayLength: 100, maxStringLength: 10000, colors: false, getters: false };

  const strEscape = (s) => {
    let q = "'";
    if (s.includes("'")) {
      if (!s.includes('"')) q = '"';
      else if (!s.includes('`') && !s.includes('${')) q = '`';
    }
    let out = '';
    for (const ch of s) {
      const c = ch.codePointAt(0);
      if (ch === q || ch === '\\') out += '\\' + ch;
      else if (ch === '\n') out += '\\n';
      else if (ch === '\t') out += '\\t';
      else if (ch === '\r') out += '\\r';
      else if (ch === '\b') out += '\\b';
      else if (ch === '\f') out += '\\f';
      else if (ch === '\v') out += '\\v';
      else if (c < 0x20 || c === 0x7f) out += '\\x' + c.toString(16).toUpperCase().padStart(2, '0');
      else out += ch;
    }
    return q + out + q;
  };
  const keyRe = /^[a-zA-Z_][a-zA-Z_0-9]*$/;
  const formatKey = (k) => typeof k === 'symbol' ? '[' + k.toString() + ']'
    : keyRe.test(k) ? k : strEscape(k);
  const fnSource = (f) => { try { return Function.prototype.toString.call(f); } catch { return ''; } };

  function getPrefix(constructor, tag, fallback, size) {
    if (constructor === null) {
      if (tag !== '' && fallback !== tag) return `[${fallback}${size}: null prototype] [${tag}] `;
      return `[${fallback}${size}: null prototype] `;
    }
    if (tag !== '' && constructor !== tag) return `${constructor}${size} [${tag}] `;
    return `${constructor}${size} `;
  }
  function constructorName(obj) {
    let o = obj;
    while (o !== null && o !== undefined) {
      const d = Object.getOwnPropertyDescriptor(o, 'constructor');
      if (d && typeof d.value === 'function' && d.value.name !== '') return d.value.name;
      o = Object.getPrototypeOf(o);
    }
    return null;
  }
  function formatNumber(n) { return Object.is(n, -0) ? '-0' : String(n); }
  function formatPrimitive(v, ctx) {
    switch (typeof v) {
      case 'string': {
        let s = v, extra = '';
        if (s.length > ctx.maxStringLength) {
          extra = `... ${s.length - ctx.maxStringLength} more character${s.length - ctx.maxStringLength > 1 ? 's' : ''}`;
          s = s.slice(0, ctx.maxStringLength);
        }
        return strEscape(s) + extra;
      }
      case 'number': return formatNumber(v);
      case 'bigint': return String(v) + 'n';
      case 'boolean': return String(v);
      case 'undefined': return 'undefined';
      default: return v.toString(); // symbol
    }
  }
  function formatError(err, ctx) {
    const name = err.name != null ? String(err.name) : 'Error';
    const message = err.message != null ? String(err.message) : '';
    let stack = typeof err.stack === 'string' && err.stack !== '' ? err.stack : '';
    const header = message ? `${name}: ${message}` : name;
    if (stack === '') stack = header;
    else if (!/^\s*at /.test(stack.split('\n')[0]) && stack.split('\n')[0].includes(name)) stack = stack.trimEnd();
    else stack = (header + '\n' + stack).trimEnd();
    // Node shows an error without stack frames in brackets.
    if (!stack.includes('\n    at')) stack = `[${stack}]`;
    if (ctx.indentationLvl !== 0) {
      const ind = ' '.repeat(ctx.indentationLvl);
      stack = stack.split('\n').join('\n' + ind);
    }
    return stack;
  }
  function formatValue(ctx, v, recurseTimes, typedArray) {
    if (typeof v !== 'object' && typeof v !== 'function') return formatPrimitive(v, ctx);
    if (v === null) return 'null';
    if (ctx.customInspect !== false && v[customInspect] && typeof v[customInspect] === 'function'
        && v[customInspect] !== inspect) {
      const depth = ctx.depth === null ? null : ctx.depth - recurseTimes;
      const r = v[customInspect](depth, Object.assign({}, ctx, { stylize: (s) => s }), inspect);
      if (r !== v) return typeof r === 'string' ? r : formatValue(ctx, r, recurseTimes);
    }
    if (ctx.seen.includes(v)) {
      let index = 1;
      if (ctx.circular === undefined) { ctx.circular = new Map([[v, index]]); }
      else {
        index = ctx.circular.get(v);
        if (index === undefined) { index = ctx.circular.size + 1; ctx.circular.set(v, index); }
      }
      return `[Circular *${index}]`;
    }
    return formatRaw(ctx, v, recurseTimes, typedArray);
  }
  function ownKeys(v, showHidden) {
    const keys = showHidden ? Object.getOwnPropertyNames(v) : Object.keys(v);
    const syms = Object.getOwnPropertySymbols(v).filter((s) => showHidden
      || Object.prototype.propertyIsEnumerable.call(v, s));
    return keys.concat(syms);
  }
  const isIndex = (k) => typeof k === 'string' && /^(0|[1-9][0-9]*)$/.test(k) && Number(k) < 4294967295;
  function formatRaw(ctx, value, recurseTimes, typedArray) {
    let keys;
    const constructor = constructorName(value);
    let tag = value[Symbol.toStringTag];
    if (typeof tag !== 'string' || (tag !== '' && (ctx.showHidden
      ? Object.prototype.hasOwnProperty : Object.prototype.propertyIsEnumerable).call(value, Symbol.toStringTag) === false && constructor === tag)) tag = '';
    let base = '', formatter = formatObjectEntries, braces, noIterator = true, extrasType = 'object';
    let filterIndex = false;
    if (Array.isArray(value)) {
      const prefix = (constructor !== 'Array' || tag !== '') ? getPrefix(constructor, tag, 'Array', `(${value.length})`) : '';
      keys = ownKeys(value, ctx.showHidden).filter((k) => !isIndex(k));
      braces = [`${prefix}[`, ']'];
      if (value.length === 0 && keys.length === 0) return `${braces[0]}]`;
      extrasType = 'array';
      formatter = formatArray;
    } else if (value instanceof Set) {
      keys = ownKeys(value, ctx.showHidden);
      const prefix = getPrefix(constructor, tag, 'Set', `(${value.size})`);
      formatter = formatSet;
      if (value.size === 0 && keys.length === 0) return `${prefix}{}`;
      braces = [`${prefix}{`, '}'];
    } else if (value instanceof Map) {
      keys = ownKeys(value, ctx.showHidden);
      const prefix = getPrefix(constructor, tag, 'Map', `(${value.size})`);
      formatter = formatMap;
      if (value.size === 0 && keys.length === 0) return `${prefix}{}`;
      braces = [`${prefix}{`, '}'];
    } else if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
      if (value[bufferTag]) return formatBuffer(ctx, value);
      keys = ownKeys(value, ctx.showHidden).filter((k) => !isIndex(k));
      const fallback = Object.prototype.toString.call(value).slice(8, -1);
      const size = value.length;
      const prefix = getPrefix(constructor, tag !== fallback ? tag : '', fallback, `(${size})`);
      braces = [`${prefix}[`, ']'];
      if (value.length === 0 && keys.length === 0) return `${braces[0]}]`;
      formatter = formatTypedArray;
      extrasType = 'array';
    } else {
      noIterator = false;
    }
    if (!noIterator) {
      keys = ownKeys(value, ctx.showHidden);
      braces = ['{', '}'];
      if (constructor === 'Object' && !(typeof value === 'function')) {
        if (isArguments(value)) braces[0] = '[Arguments] [';
        else if (tag !== '') braces[0] = `${getPrefix(constructor, tag, 'Object', '')}{`;
        if (isArguments(value)) { braces[1] = ']'; extrasType = 'array'; formatter = formatArguments; keys = keys.filter((k) => !isIndex(k)); }
        if (keys.length === 0 && formatter === formatObjectEntries) return `${braces[0]}}`;
      } else if (typeof value === 'function') {
        base = formatFunction(value, constructor, tag);
        keys = keys.filter((k) => k !== 'prototype' || ctx.showHidden);
        if (keys.length === 0) return base;
      } else if (value instanceof RegExp) {
        base = RegExp.prototype.toString.call(value);
        const prefix = getPrefix(constructor, tag, 'RegExp', '');
        if (prefix !== 'RegExp ') base = `${prefix}${base}`;
        keys = keys.filter((k) => k !== 'lastIndex');
        if (keys.length === 0) return base;
      } else if (value instanceof Date) {
        base = Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
        const prefix = getPrefix(constructor, tag, 'Date', '');
        if (prefix !== 'Date ') base = `${prefix}${base}`;
        if (keys.length === 0) return base;
      } else if (value instanceof Error) {
        base = formatError(value, ctx);
        // As Node: name, message and stack are not repeated when the stack shows them.
        keys = keys.filter((k) => !((k === 'name' || k === 'message' || k === 'stack')
          && (typeof value[k] !== 'string' || base.includes(value[k]))));
        if (keys.length === 0) return base;
      } else if (value instanceof ArrayBuffer) {
        const bytes = new Uint8Array(value);
        let hex = Array.from(bytes.slice(0, 50), (b) => b.toString(16).padStart(2, '0')).join(' ');
        if (bytes.length > 50) hex += ` ... ${bytes.length - 50} more byte${bytes.length - 50 > 1 ? 's' : ''}`;
        keys.unshift('byteLength');
        braces[0] = `${getPrefix(constructor, tag, 'ArrayBuffer', '')}{`;
        const out = [`[Uint8Contents]: <${hex}>`, `byteLength: ${value.byteLength}`];
        keys = keys.filter((k) => k !== 'byteLength');
        ctx.seen.push(value);
        for (const k of keys) out.push(formatProperty(ctx, value, recurseTimes, k, 'object'));
        ctx.seen.pop();
        return reduceToSingleString(ctx, out, '', braces, 'object', recurseTimes, value);
      } else if (value instanceof Promise) {
        braces[0] = `${getPrefix(constructor, tag, 'Promise', '')}{`;
        formatter = formatPromise;
      } else if (value instanceof WeakSet || value instanceof WeakMap) {
        braces[0] = `${getPrefix(constructor, tag, value instanceof WeakSet ? 'WeakSet' : 'WeakMap', '')}{`;
        formatter = () => ['<items unknown>'];
      } else if (value instanceof Number || value instanceof String || value instanceof Boolean
        || (typeof BigInt === 'function' && value instanceof BigInt) || value instanceof Symbol) {
        const prim = value.valueOf();
        const type = value instanceof Number ? 'Number' : value instanceof String ? 'String'
          : value instanceof Boolean ? 'Boolean' : value instanceof Symbol ? 'Symbol' : 'BigInt';
        base = `[${type}${constructor !== type ? (constructor === null ? ' (null prototype)' : ` (${constructor})`) : ''}: ${formatPrimitive(prim, ctx)}]`;
        if (type === 'String') keys = keys.filter((k) => !isIndex(k) && k !== 'length');
        if (keys.length === 0) return base;
      } else {
        if (constructor === null) braces[0] = `${getPrefix(constructor, tag, 'Object', '')}{`;
        else braces[0] = `${getPrefix(constructor, tag, 'Object', '')}{`;
        if (keys.length === 0) return `${braces[0]}}`;
      }
    }
    if (recurseTimes > ctx.depth && ctx.depth !== null) {
      let name = constructor || tag || 'Object';
      if (Array.isArray(value)) name = 'Array';
      return `[${name}]`;
    }
    recurseTimes += 1;
    ctx.seen.push(value);
    ctx.currentDepth = recurseTimes;
    let output;
    try {
      output = formatter(ctx, value, recurseTimes);
      for (const k of keys) output.push(formatProperty(ctx, value, recurseTimes, k, extrasType));
    } finally {
      ctx.seen.pop();
    }
    if (ctx.circular !== undefined) {
      const index = ctx.circular.get(value);
      if (index !== undefined) {
        const reference = `<ref *${index}>`;
        if (base === '') braces[0] = `${reference} ${braces[0]}`;
        else base = `${reference} ${base}`;
      }
    }
    if (ctx.sorted) output.sort();
    const res = reduceToSingleString(ctx, output, base, braces, extrasType, recurseTimes, value);
    const newLength = ctx.budget + res.length;
    ctx.budget = newLength;
    return res;
  }
  function isArguments(v) { return Object.prototype.toString.call(v) === '[object Arguments]'; }
  function formatFunction(value, constructor, tag) {
    const src = fnSource(value);
    if (src.startsWith('class') && /^class\b/.test(src)) {
      let b = `[class ${value.name || '(anonymous)'}`;
      const sup = Object.getPrototypeOf(value);
      if (sup && sup !== Function.prototype && sup.name) b += ` extends ${sup.name}`;
      else if (constructor !== 'Function' && constructor !== null) b += ` [${constructor}]`;
      return b + ']';
    }
    let type = 'Function';
    if (constructor === 'AsyncFunction' || constructor === 'GeneratorFunction' || constructor === 'AsyncGeneratorFunction') type = constructor;
    let b = `[${type}`;
    if (constructor === null) b += ' (null prototype)';
    b += value.name === '' ? ' (anonymous)' : `: ${value.name}`;
    b += ']';
    if (constructor !== type && constructor !== null) b += ` ${constructor}`;
    if (tag !== '' && constructor !== tag) b += ` [${tag}]`;
    return b;
  }
  function formatBuffer(ctx, value) {
    let str = Array.from(value.subarray(0, 50), (b) => b.toString(16).padStart(2, '0')).join(' ');
    const remaining = value.length - 50;
    if (remaining > 0) str += ` ... ${remaining} more byte${remaining > 1 ? 's' : ''}`;
    return `<${constructorName(value) || 'Buffer'} ${str}>`.replace(' >', '>');
  }
  function formatObjectEntries() { return []; }
  function formatArrayLike(ctx, value, recurseTimes, len, get, has) {
    const output = [];
    const max = Math.min(ctx.maxArrayLength, len);
    let holes = 0;
    let i = 0;
    for (; i < len && output.length < max; i++) {
      if (!has(i)) { holes++; continue; }
      if (holes > 0) { output.push(`<${holes} empty item${holes > 1 ? 's' : ''}>`); holes = 0; if (output.length >= max) break; }
      output.push(formatArrayValue(ctx, get(i), recurseTimes));
    }
    if (holes > 0 && output.length < max) { output.push(`<${holes} empty item${holes > 1 ? 's' : ''}>`); }
    const remaining = len - i;
    if (remaining > 0 && i < len) output.push(`... ${remaining} more item${remaining > 1 ? 's' : ''}`);
    return output;
  }
  function formatArrayValue(ctx, v, recurseTimes) {
    ctx.indentationLvl += 2;
    const s = formatValue(ctx, v, recurseTimes);
    ctx.indentationLvl -= 2;
    return s;
  }
  function formatArray(ctx, value, recurseTimes) {
    return formatArrayLike(ctx, value, recurseTimes, value.length, (i) => value[i],
      (i) => Object.prototype.hasOwnProperty.call(value, i));
  }
  function formatArguments(ctx, value, recurseTimes) { return formatArray(ctx, Array.from(value), recurseTimes); }
  function formatTypedArray(ctx, value, recurseTimes) {
    const max = Math.min(ctx.maxArrayLength, value.length);
    const output = [];
    for (let i = 0; i < max; i++) output.push(typeof value[i] === 'bigint' ? `${value[i]}n` : formatNumber(value[i]));
    if (value.length > max) output.push(`... ${value.length - max} more item${value.length - max > 1 ? 's' : ''}`);
    if (ctx.showHidden) {
      ctx.indentationLvl += 2;
      for (const k of ['BYTES_PER_ELEMENT', 'length', 'byteLength', 'byteOffset', 'buffer'])
        output.push(`[${k}]: ${formatValue(ctx, value[k], recurseTimes, true)}`);
      ctx.indentationLvl -= 2;
    }
    return output;
  }
  function formatSet(ctx, value, recurseTimes) {
    const output = [];
    ctx.indentationLvl += 2;
    for (const v of value) output.push(formatValue(ctx, v, recurseTimes));
    ctx.indentationLvl -= 2;
    return output;
  }
  function formatMap(ctx, value, recurseTimes) {
    const output = [];
    ctx.indentationLvl += 2;
    for (const [k, v] of value) output.push(`${formatValue(ctx, k, recurseTimes)} => ${formatValue(ctx, v, recurseTimes)}`);
    ctx.indentationLvl -= 2;
    return output;
  }
  function formatPromise(ctx, value, recurseTimes) {
    const [state, result] = natives.promiseState(value);
    if (state === 0) return ['<pending>'];
    ctx.indentationLvl += 2;
    const str = formatValue(ctx, result, recurseTimes);
    ctx.indentationLvl -= 2;
    return [state === 2 ? `<rejected> ${str}` : str];
  }
  function formatProperty(ctx, value, recurseTimes, key, type) {
    let name, str;
    const desc = Object.getOwnPropertyDescriptor(value, key) || { value: value[key], enumerable: true };
    if (desc.value !== undefined || !('get' in desc || 'set' in desc)) {
      const diff = ctx.compact !== true ? 2 : 3;
      ctx.indentationLvl += diff;
      str = formatValue(ctx, desc.value, recurseTimes);
      ctx.indentationLvl -= diff;
    } else if (desc.get !== undefined) {
      str = desc.set !== undefined ? '[Getter/Setter]' : '[Getter]';
    } else if (desc.set !== undefined) {
      str = '[Setter]';
    } else {
      str = 'undefined';
    }
    if (type === 'arrayValue') return str;
    if (typeof key === 'symbol') name = `[${key.toString()}]`;
    else if (desc.enumerable === false) name = `[${key}]`;
    else name = formatKey(key);
    return `${name}: ${str}`;
  }
  function isBelowBreakLength(ctx, output, start, base) {
    let totalLength = output.length + start;
    if (totalLength + output.length > ctx.breakLength) return false;
    for (let i = 0; i < output.length; i++) {
      totalLength += output[i].length;
      if (totalLength > ctx.breakLength) return false;
    }
    return base === '' || !base.includes('\n');
  }
  function groupArrayElements(ctx, output, value) {
    let totalLength = 0, maxLength = 0, i = 0;
    let outputLength = output.length;
    if (ctx.maxArrayLength < output.length) outputLength--;
    const separatorSpace = 2;
    const dataLen = new Array(outputLength);
    for (; i < outputLength; i++) {
      const len = output[i].length;
      dataLen[i] = len;
      totalLength += len + separatorSpace;
      if (maxLength < len) maxLength = len;
    }
    const actualMax = maxLength + separatorSpace;
    if (actualMax * 3 + ctx.indentationLvl < ctx.breakLength
      && (totalLength / actualMax > 5 || maxLength <= 6)) {
      const averageBias = Math.sqrt(actualMax - totalLength / output.length);
      const biasedMax = Math.max(actualMax - 3 - averageBias, 1);
      const columns = Math.min(
        Math.round(Math.sqrt(2.5 * biasedMax * outputLength) / biasedMax),
        Math.floor((ctx.breakLength - ctx.indentationLvl) / actualMax),
        ctx.compact * 4, 15);
      if (columns <= 1) return output;
      const tmp = [];
      const maxLineLength = [];
      for (let c = 0; c < columns; c++) {
        let lineLength = 0;
        for (let j = c; j < output.length; j += columns) if (dataLen[j] > lineLength) lineLength = dataLen[j];
        maxLineLength.push(lineLength + separatorSpace);
      }
      let padStart = true;
      if (value !== undefined) {
        for (let k = 0; k < output.length; k++) {
          if (typeof value[k] !== 'number' && typeof value[k] !== 'bigint') { padStart = false; break; }
        }
      }
      for (let k = 0; k < outputLength; k += columns) {
        const max = Math.min(k + columns, outputLength);
        let str = '';
        let j = k;
        for (; j < max - 1; j++) {
          const padding = maxLineLength[j - k];
          str += padStart ? `${output[j]}, `.padStart(padding, ' ') : `${output[j]}, `.padEnd(padding, ' ');
        }
        if (padStart) str += output[j].padStart(maxLineLength[j - k] - separatorSpace, ' ');
        else str += output[j];
        tmp.push(str);
      }
      if (ctx.maxArrayLength < output.length) tmp.push(output[outputLength]);
      output = tmp;
    }
    return output;
  }
  function reduceToSingleString(ctx, output, base, braces, extrasType, recurseTimes, value) {
    if (ctx.compact !== true) {
      if (typeof ctx.compact === 'number' && ctx.compact >= 1) {
        const entries = output.length;
        if (extrasType === 'array' && entries > 6) output = groupArrayElements(ctx, output, value);
        if (ctx.currentDepth - recurseTimes < ctx.compact && entries === output.length) {
          const start = output.length + ctx.indentationLvl + braces[0].length + base.length + 10;
          if (isBelowBreakLength(ctx, output, start, base)) {
            const joined = output.join(', ');
            if (!joined.includes('\n')) {
              return `${base ? `${base} ` : ''}${braces[0]} ${joined} ${braces[1]}`;
            }
          }
        }
      }
      const indentation = `\n${' '.repeat(ctx.indentationLvl)}`;
      return `${base ? `${base} ` : ''}${braces[0]}${indentation}  ${output.join(`,${indentation}  `)}${indentation}${braces[1]}`;
    }
    if (isBelowBreakLength(ctx, output, 0, base)) {
      return `${braces[0]}${base ? ` ${base}` : ''} ${output.join(', ')} ${braces[1]}`;
    }
    const indentation = `\n${' '.repeat(ctx.indentationLvl)}`;
    const ln = base === '' && braces[0].length === 1 ? ' ' : `${base ? ` ${base}` : ''}\n${indentation}  `;
    return `${braces[0]}${ln}${output.join(`,\n${indentation}  `)} ${braces[1]}`;
  }
  function inspect(value, opts, ...rest) {
    const ctx = Object.assign({}, defaults, inspect.defaultOptions === defaults ? {} : inspect.defaultOptions,
      { seen: [], indentationLvl: 0, currentDepth: 0, budget: 0, circular: undefined });
    if (typeof opts === 'boolean') { ctx.showHidden = opts; if (rest.length) ctx.depth = rest[0]; }
    else if (opts && typeof opts === 'object') Object.assign(ctx, opts);
    if (ctx.depth === Infinity) ctx.depth = null;
    return formatValue(ctx, value, 0);
  }
  inspect.custom = customInspect;
  inspect.defaultOptions = defaults;

  function formatWithOptions(opts, ...args) {
    const first = args[0];
    let a = 0, str = '', join = '';
    if (typeof first === 'string') {
      if (args.length === 1) return first;
      let tempStr, lastPos = 0;
      for (let i = 0; i < first.length - 1; i++) {
        if (first.charCodeAt(i) === 37) {
          const nextChar = first.charCodeAt(++i);
          if (a + 1 !== args.length) {
            switch (nextChar) {
              case 115: { // s
                const arg = args[++a];
                if (typeof arg === 'number') tempStr = formatNumber(arg);
                else if (typeof arg === 'bigint') tempStr = `${arg}n`;
                else if (typeof arg !== 'object' || arg === null || (arg.toString !== Object.prototype.toString && !(arg instanceof Error) && typeof arg.toString === 'function' && Object.prototype.hasOwnProperty.call(Object.getPrototypeOf(arg) || {}, 'toString'))) tempStr = String(arg);
                else tempStr = inspect(arg, Object.assign({}, opts, { depth: 0, colors: false, compact: 3 }));
                break;
              }
              case 106: try { tempStr = JSON.stringify(args[++a]); } catch (e) { tempStr = '[Circular]'; } break;
              case 100: { const n = args[++a]; tempStr = typeof n === 'bigint' ? `${n}n` : typeof n === 'symbol' ? 'NaN' : formatNumber(Number(n)); break; }
              case 79: tempStr = inspect(args[++a], opts); break;
              case 111: tempStr = inspect(args[++a], Object.assign({}, opts, { showHidden: true, showProxy: true, depth: 4 })); break;
              case 105: { const n = args[++a]; tempStr = typeof n === 'bigint' ? `${n}n` : typeof n === 'symbol' ? 'NaN' : formatNumber(parseInt(n)); break; }
              case 102: { const n = args[++a]; tempStr = typeof n === 'symbol' ? 'NaN' : formatNumber(parseFloat(n)); break; }
              case 99: a += 1; tempStr = ''; break;
              case 37: str += first.slice(lastPos, i); lastPos = i + 1; continue;
              default: continue;
            }
            if (lastPos !== i - 1) str += first.slice(lastPos, i - 1);
            str += tempStr;
            lastPos = i + 1;
          } else if (nextChar === 37) {
            str += first.slice(lastPos, i);
            lastPos = i + 1;
          }
        }
      }
      if (lastPos !== 0) { a++; join = ' '; if (lastPos < first.length) str += first.slice(lastPos); }
    }
    while (a < args.length) {
      const v = args[a];
      str += join;
      str += typeof v !== 'string' ? inspect(v, opts) : v;
      join = ' ';
      a++;
    }
    return str;
  }
  const format = (...args) => formatWithOptions(undefined, ...args);

  // ---------------------------------------------------------------- output, console
  const write = (file, s) => { file.puts(s); };
  const consoleState = { indent: '', counts: new Map(), timers: new Map() };
  const emit = (file, text) => {
    if (consoleState.indent) text = text.split('\n').map((l) => consoleState.indent + l).join('\n');
    write(file, text + '\n');
  };
  const out = (...a) => emit(std.out, format(...a));
  const err = (...a) => emit(std.err, format(...a));
  function table(data, properties) {
    if (data === null || typeof data !== 'object') return out(data);
    const fmt = (v) => (typeof v === 'string' ? strEscape(v) : inspect(v, { depth: 1, breakLength: Infinity, compact: 3 }));
    const rows = [];
    const cols = [];
    let hasValues = false;
    const keys = data instanceof Map ? [...data.keys()] : Object.keys(data);
    const vals = data instanceof Map ? [...data.values()] : keys.map((k) => data[k]);
    const idxHeader = data instanceof Map ? '(iteration index)' : '(index)';
    keys.forEach((k, i) => {
      const v = vals[i];
      const row = { idx: data instanceof Map ? String(i) : String(k), cells: {} };
      if (data instanceof Map) row.key = fmt(k);
      if (v !== null && typeof v === 'object') {
        for (const c of Object.keys(v)) {
          if (properties && !properties.includes(c)) continue;
          if (!cols.includes(c)) cols.push(c);
          row.cells[c] = fmt(v[c]);
        }
      } else { row.value = fmt(v); hasValues = true; }
      rows.push(row);
    });
    const header = [idxHeader].concat(data instanceof Map ? ['Key'] : [], properties || cols, hasValues ? ['Values'] : []);
    const matrix = rows.map((r) => [r.idx].concat(data instanceof Map ? [r.key] : [], (properties || cols).map((c) => r.cells[c] ?? ''), hasValues ? [r.value ?? ''] : []));
    const width = header.map((h, i) => Math.max(h.length, ...matrix.map((m) => m[i].length)) + 2);
    const center = (s, w) => ` ${s}`.padEnd(w, ' ');
    const line = (l, m, r) => l + width.map((w) => '─'.repeat(w)).join(m) + r;
    const lines = [line('┌', '┬', '┐'), '│' + header.map((h, i) => center(h, width[i])).join('│') + '│', line('├', '┼', '┤')];
    for (const m of matrix) lines.push('│' + m.map((c, i) => center(c, width[i])).join('│') + '│');
    lines.push(line('└', '┴', '┘'));
    out(lines.join('\n'));
  }
  const console = {
    log: out, info: out, debug: out, error: err, warn: err, trace: (...a) => {
      const e = new Error(format(...a)); e.name = 'Trace'; err(e.stack.includes('Trace') ? e.stack : `Trace: ${e.message}\n${e.stack}`.trimEnd());
    },
    dir: (v, opts) => out(inspect(v, Object.assign({ customInspect: false }, opts))),
    dirxml: out,
    table,
    assert: (ok, ...a) => { if (!ok) { a[0] = `Assertion failed${a.length === 0 ? '' : `: ${a[0]}`}`; err(...(a.length ? a : ['Assertion failed'])); } },
    count: (label = 'default') => { const n = (consoleState.counts.get(label) || 0) + 1; consoleState.counts.set(label, n); out(`${label}: ${n}`); },
    countReset: (label = 'default') => { consoleState.counts.delete(label); },
    group: (...a) => { if (a.length) out(...a); consoleState.indent += '  '; },
    groupCollapsed: (...a) => console.group(...a),
    groupEnd: () => { consoleState.indent = consoleState.indent.slice(2); },
    time: (label = 'default') => { consoleState.timers.set(label, performance.now()); },
    timeEnd: (label = 'default') => { const t = consoleState.timers.get(label); if (t !== undefined) { consoleState.timers.delete(label); out(`${label}: ${(performance.now() - t).toFixed(3)}ms`); } },
    timeLog: (label = 'default', ...a) => { const t = consoleState.timers.get(label); if (t !== undefined) out(`${label}: ${(performance.now() - t).toFixed(3)}ms`, ...a); },
  };

  // ---------------------------------------------------------------- event loop
  let tickQueue = [];
  const timers = [];
  let immediates = [];
  let timerSeq = 0;
  let ticksScheduled = false;
  const runTicks = () => {
    while (tickQueue.length) {
      const q = tickQueue; tickQueue = [];
      for (const [fn, args] of q) fn(...args);
    }
  };
  // Runs nextTick callbacks and promise jobs until both are empty.
  function drain() {
    do {
      runTicks();
      natives.runJobs();
    } while (tickQueue.length);
    checkRejections();
  }
  class Timeout {
    constructor(fn, ms, args, repeat) {
      this._fn = fn; this._args = args; this._repeat = repeat;
      this._ms = ms; this._id = ++timerSeq; this._when = performance.now() + ms; this._seq = this._id; this._active = true; this._ref = true;
      timers.push(this);
    }
    ref() { this._ref = true; return this; }
    unref() { this._ref = false; return this; }
    hasRef() { return this._ref; }
    refresh() { this._when = performance.now() + this._ms; this._seq = ++timerSeq; return this; }
    close() { clearTimer(this); return this; }
    [Symbol.toPrimitive]() { return this._id; }
  }
  class Immediate {
    constructor(fn, args) { this._fn = fn; this._args = args; this._active = true; this._ref = true; immediates.push(this); }
    ref() { this._ref = true; return this; }
    unref() { this._ref = false; return this; }
    hasRef() { return this._ref; }
  }
  const delay = (ms) => { ms = Number(ms); return ms >= 1 && ms <= 2147483647 ? Math.floor(ms) : 1; };
  const checkFn = (fn) => { if (typeof fn !== 'function') throw nodeError(TypeError, 'ERR_INVALID_ARG_TYPE', `The "callback" argument must be of type function. Received ${inspect(fn)}`); };
  function clearTimer(t) {
    if (typeof t === 'number') t = timers.find((x) => x._id === t);
    if (t instanceof Timeout && t._active) { t._active = false; const i = timers.indexOf(t); if (i >= 0) timers.splice(i, 1); }
  }
  const setTimeout = (fn, ms, ...args) => { checkFn(fn); return new Timeout(fn, delay(ms), args, false); };
  const setInterval = (fn, ms, ...args) => { checkFn(fn); return new Timeout(fn, delay(ms), args, true); };
  const setImmediate = (fn, ...args) => { checkFn(fn); return new Immediate(fn, args); };
  const clearImmediate = (im) => { if (im instanceof Immediate) { im._active = false; immediates = immediates.filter((x) => x !== im); } };
  // One turn of the loop: runs due timers, then the immediates queued before it. Returns the
  // milliseconds until the next timer (0: more to do now), or -1 when nothing keeps it alive.
  function loop() {
    drain();
    const now = performance.now();
    const due = timers.filter((t) => t._when <= now).sort((x, y) => x._when - y._when || x._seq - y._seq);
    for (const t of due) {
      if (!t._active) continue;
      if (t._repeat) { t._when = Math.max(t._when + t._ms, performance.now()); t._seq = ++timerSeq; }
      else clearTimer(t);
      t._fn.apply(t, t._args);
      drain();
    }
    if (immediates.length) {
      const q = immediates; immediates = [];
      for (const im of q) { if (!im._active) continue; im._active = false; im._fn(...im._args); drain(); }
    }
    if (immediates.some((x) => x._ref)) return 0;
    const live = timers.filter((t) => t._ref);
    if (live.length === 0) return -1;
    const next = Math.min(...live.map((t) => t._when));
    return Math.max(0, Math.ceil(next - performance.now()));
  }
  // Forgets everything pending (a session cell that failed or timed out leaves nothing behind).
  function resetLoop() { timers.length = 0; immediates = []; tickQueue = []; }

  // ---------------------------------------------------------------- errors
  function nodeError(Ctor, code, message) {
    const e = new Ctor(message);
    Object.defineProperty(e, 'code', { value: code, enumerable: true, writable: true, configurable: true });
    return e;
  }
  const errnoText = { ENOENT: 'no such file or directory', EEXIST: 'file already exists', ENOTDIR: 'not a directory',
    EISDIR: 'illegal operation on a directory', EACCES: 'permission denied', EPERM: 'operation not permitted',
    ENOTEMPTY: 'directory not empty', EINVAL: 'invalid argument', EBADF: 'bad file descriptor',
    ENOSPC: 'no space left on device', ENOTSUP: 'operation not supported', EXDEV: 'cross-device link not permitted',
    EROFS: 'read-only file system', ELOOP: 'too many symbolic links encountered', ENAMETOOLONG: 'name too long',
    EDQUOT: 'quota exceeded', EFBIG: 'file too large', EIO: 'i/o error' };
  // errno: a (negative) errno value as the os module returns it, or a code name.
  function fsError(errno, syscall, path, dest) {
    const code = typeof errno === 'string' ? errno : natives.errnoName(Math.abs(errno));
    errno = typeof errno === 'string' ? 5 : Math.abs(errno);
    const text = errnoText[code] || std.strerror(errno);
    const e = new Error(`${code}: ${text}, ${syscall}${path !== undefined ? ` '${path}'` : ''}${dest !== undefined ? ` -> '${dest}'` : ''}`);
    const nodeErrno = { ENOENT: -2, EEXIST: -17, ENOTDIR: -20, EISDIR: -21, EACCES: -13, EPERM: -1, ENOTEMPTY: -39, EINVAL: -22, EBADF: -9, ENOSPC: -28, EROFS: -30, ELOOP: -40 }[code] ?? -5;
    Object.assign(e, { errno: nodeErrno, code, syscall });
    if (path !== undefined) e.path = path;
    if (dest !== undefined) e.dest = dest;
    return e;
  }

  // ---------------------------------------------------------------- Buffer, TextEncoder
  function utf8Encode(str) {
    str = String(str);
    const out = [];
    for (let i = 0; i < str.length; i++) {
      let c = str.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < str.length) {
        const d = str.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) { c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00); i++; }
        else c = 0xfffd;
      } else if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
      if (c < 0x80) out.push(c);
      else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
      else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
      else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    }
    return new Uint8Array(out);
  }
  function utf8Decode(bytes, start = 0, end = bytes.length) {
    let s = '';
    const parts = [];
    let i = start;
    while (i < end) {
      const b = bytes[i];
      let c = 0xfffd, n = 1;
      if (b < 0x80) c = b;
      else if (b >= 0xc2 && b < 0xe0 && i + 1 < end && (bytes[i + 1] & 0xc0) === 0x80) { c = ((b & 31) << 6) | (bytes[i + 1] & 63); n = 2; }
      else if (b >= 0xe0 && b < 0xf0 && i + 2 < end && (bytes[i + 1] & 0xc0) === 0x80 && (bytes[i + 2] & 0xc0) === 0x80) {
        c = ((b & 15) << 12) | ((bytes[i + 1] & 63) << 6) | (bytes[i + 2] & 63); n = 3;
        if (c < 0x800 || (c >= 0xd800 && c <= 0xdfff)) { c = 0xfffd; n = 1; }
      } else if (b >= 0xf0 && b < 0xf5 && i + 3 < end && (bytes[i + 1] & 0xc0) === 0x80 && (bytes[i + 2] & 0xc0) === 0x80 && (bytes[i + 3] & 0xc0) === 0x80) {
        c = ((b & 7) << 18) | ((bytes[i + 1] & 63) << 12) | ((bytes[i + 2] & 63) << 6) | (bytes[i + 3] & 63); n = 4;
        if (c < 0x10000 || c > 0x10ffff) { c = 0xfffd; n = 1; }
      }
      s += String.fromCodePoint(c);
      if (s.length > 8192) { parts.push(s); s = ''; }
      i += n;
    }
    parts.push(s);
    return parts.join('');
  }
  class TextEncoder {
    get encoding() { return 'utf-8'; }
    encode(s = '') { return utf8Encode(s); }
    encodeInto(s, dest) { const b = utf8Encode(s); const n = Math.min(b.length, dest.length); dest.set(b.subarray(0, n)); return { read: s.length, written: n }; }
  }
  class TextDecoder {
    constructor(label = 'utf-8', opts = {}) {
      const l = String(label).toLowerCase();
      if (!['utf-8', 'utf8', 'unicode-1-1-utf-8', 'latin1', 'ascii', 'iso-8859-1', 'utf-16le'].includes(l)) throw new RangeError(`The "${label}" encoding is not supported`);
      this._enc = l === 'utf8' || l === 'unicode-1-1-utf-8' ? 'utf-8' : l; this._fatal = !!opts.fatal; this._bom = !opts.ignoreBOM;
    }
    get encoding() { return this._enc === 'ascii' || this._enc === 'iso-8859-1' ? 'windows-1252' : this._enc; }
    decode(input) {
      if (input === undefined) return '';
      const bytes = input instanceof ArrayBuffer ? new Uint8Array(input) : new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
      if (this._enc === 'utf-8') {
        const start = this._bom && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
        const s = utf8Decode(bytes, start);
        if (this._fatal && s.includes('\ufffd') && !utf8Encode(s).every((b, i) => b === bytes[start + i])) throw nodeError(TypeError, 'ERR_ENCODING_INVALID_ENCODED_DATA', 'The encoded data was not valid for encoding utf-8');
        return s;
      }
      return Buffer.from(bytes).toString(this._enc === 'utf-16le' ? 'utf16le' : 'latin1');
    }
  }
  const b64chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  function base64Encode(bytes, url) {
    let s = '';
    for (let i = 0; i < bytes.length; i += 3) {
      const n = (bytes[i] << 16) | ((bytes[i + 1] || 0) << 8) | (bytes[i + 2] || 0);
      s += b64chars[(n >> 18) & 63] + b64chars[(n >> 12) & 63]
        + (i + 1 < bytes.length ? b64chars[(n >> 6) & 63] : '=') + (i + 2 < bytes.length ? b64chars[n & 63] : '=');
    }
    return url ? s.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '') : s;
  }
  function base64Decode(str) {
    const clean = String(str).replace(/[-]/g, '+').replace(/_/g, '/').replace(/[^A-Za-z0-9+/]/g, '');
    const out = [];
    let bits = 0, acc = 0;
    for (const ch of clean) {
      acc = (acc << 6) | b64chars.indexOf(ch); bits += 6;
      if (bits >= 8) { bits -= 8; out.push((acc >> bits) & 255); }
    }
    return out;
  }
  const normEnc = (enc) => {
    const e = String(enc || 'utf8').toLowerCase();
    if (e === 'utf-8' || e === 'utf8') return 'utf8';
    if (e === 'ucs2' || e === 'ucs-2' || e === 'utf16le' || e === 'utf-16le') return 'utf16le';
    if (e === 'binary' || e === 'latin1') return 'latin1';
    if (['hex', 'base64', 'base64url', 'ascii'].includes(e)) return e;
    throw nodeError(TypeError, 'ERR_UNKNOWN_ENCODING', `Unknown encoding: ${enc}`);
  };
  function encodeString(str, enc) {
    switch (normEnc(enc)) {
      case 'utf8': return utf8Encode(str);
      case 'hex': { const out = []; for (let i = 0; i + 1 < str.length; i += 2) { const b = parseInt(str.substr(i, 2), 16); if (Number.isNaN(b)) break; out.push(b); } return out; }
      case 'base64': case 'base64url': return base64Decode(str);
      case 'latin1': case 'ascii': return Array.from(str, (c) => c.charCodeAt(0) & 255);
      case 'utf16le': { const out = []; for (let i = 0; i < str.length; i++) { const c = str.charCodeAt(i); out.push(c & 255, c >> 8); } return out; }
    }
    return [];
  }
  class Buffer extends Uint8Array {
    static from(v, encOrOffset, length) {
      if (typeof v === 'string') return fromBytes(encodeString(v, encOrOffset));
      if (v instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && v instanceof SharedArrayBuffer)) {
        const off = encOrOffset || 0;
        return new Buffer(v, off, length === undefined ? v.byteLength - off : length);
      }
      if (ArrayBuffer.isView(v)) return fromBytes(new Uint8Array(v.buffer, v.byteOffset, v.byteLength).slice());
      if (Array.isArray(v)) return fromBytes(v.map((x) => x & 255));
      if (v && v.type === 'Buffer' && Array.isArray(v.data)) return fromBytes(v.data);
      if (v && typeof v.length === 'number') return fromBytes(Array.from(v, (x) => x & 255));
      throw nodeError(TypeError, 'ERR_INVALID_ARG_TYPE', `The first argument must be of type string or an instance of Buffer, ArrayBuffer, or Array or an Array-like Object. Received ${inspect(v)}`);
    }
    static alloc(n, fill, enc) { const b = new Buffer(n); if (fill !== undefined) b.fill(fill, 0, n, enc); return b; }
    static allocUnsafe(n) { return new Buffer(n); }
    static allocUnsafeSlow(n) { return new Buffer(n); }
    static isBuffer(b) { return b instanceof Buffer; }
    static isEncoding(e) { try { normEnc(e); return true; } catch { return false; } }
    static byteLength(s, enc) { return typeof s === 'string' ? encodeString(s, enc).length : s.byteLength; }
    static concat(list, total) {
      if (total === undefined) total = list.reduce((n, b) => n + b.length, 0);
      const out = Buffer.alloc(total);
      let off = 0;
      for (const b of list) { if (off >= total) break; out.set(b.subarray(0, total - off), off); off += b.length; }
      return out;
    }
    static compare(a, b) { return a.compare(b); }
    get [bufferTag]() { return true; }
    toString(enc, start = 0, end = this.length) {
      start = Math.max(0, start); end = Math.min(this.length, end);
      const bytes = this.subarray(start, end);
      switch (normEnc(enc)) {
        case 'utf8': return utf8Decode(bytes);
        case 'hex': return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
        case 'base64': return base64Encode(bytes, false);
        case 'base64url': return base64Encode(bytes, true);
        case 'latin1': return Array.from(bytes, (b) => String.fromCharCode(b)).join('');
        case 'ascii': return Array.from(bytes, (b) => String.fromCharCode(b & 127)).join('');
        case 'utf16le': { let s = ''; for (let i = 0; i + 1 < bytes.length; i += 2) s += String.fromCharCode(bytes[i] | (bytes[i + 1] << 8)); return s; }
      }
      return '';
    }
    toJSON() { return { type: 'Buffer', data: Array.from(this) }; }
    equals(o) { return this.length === o.length && this.every((b, i) => b === o[i]); }
    compare(o) { const n = Math.min(this.length, o.length); for (let i = 0; i < n; i++) if (this[i] !== o[i]) return this[i] < o[i] ? -1 : 1; return this.length === o.length ? 0 : this.length < o.length ? -1 : 1; }
    write(str, offset = 0, length, enc) {
      if (typeof offset === 'string') { enc = offset; offset = 0; }
      if (typeof length === 'string') { enc = length; length = undefined; }
      const bytes = encodeString(str, enc);
      const n = Math.min(bytes.length, this.length - offset, length === undefined ? Infinity : length);
      for (let i = 0; i < n; i++) this[offset + i] = bytes[i];
      return n;
    }
    fill(v, start = 0, end = this.length, enc) {
      if (typeof start === 'string') { enc = start; start = 0; end = this.length; }
      if (typeof v === 'string') {
        const bytes = encodeString(v, enc);
        if (bytes.length === 0) return super.fill(0, start, end);
        for (let i = start, j = 0; i < end; i++, j = (j + 1) % bytes.length) this[i] = bytes[j];
        return this;
      }
      return super.fill(typeof v === 'number' ? v & 255 : 0, start, end);
    }
    slice(s, e) { return this.subarray(s, e); }
    subarray(s, e) { const u = Uint8Array.prototype.subarray.call(this, s, e); return new Buffer(u.buffer, u.byteOffset, u.length); }
    indexOf(v, from = 0, enc) {
      const needle = typeof v === 'number' ? [v & 255] : typeof v === 'string' ? Array.from(encodeString(v, enc)) : Array.from(v);
      if (from < 0) from = Math.max(0, this.length + from);
      outer: for (let i = from; i <= this.length - needle.length; i++) {
        for (let j = 0; j < needle.length; j++) if (this[i + j] !== needle[j]) continue outer;
        return i;
      }
      return -1;
    }
    includes(v, from, enc) { return this.indexOf(v, from, enc) !== -1; }
    copy(target, ts = 0, ss = 0, se = this.length) { const part = this.subarray(ss, Math.min(se, ss + target.length - ts)); target.set(part, ts); return part.length; }
    swap16() { for (let i = 0; i + 1 < this.length; i += 2) { const t = this[i]; this[i] = this[i + 1]; this[i + 1] = t; } return this; }
    reverse() { super.reverse(); return this; }
  }
  function fromBytes(bytes) { const b = new Buffer(bytes.length); b.set(bytes); return b; }
  const view = (b) => new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (const [name, size, get, set] of [['UInt8', 1, 'getUint8', 'setUint8'], ['Int8', 1, 'getInt8', 'setInt8'],
    ['UInt16', 2, 'getUint16', 'setUint16'], ['Int16', 2, 'getInt16', 'setInt16'], ['UInt32', 4, 'getUint32', 'setUint32'],
    ['Int32', 4, 'getInt32', 'setInt32'], ['Float', 4, 'getFloat32', 'setFloat32'], ['Double', 8, 'getFloat64', 'setFloat64'],
    ['BigUInt64', 8, 'getBigUint64', 'setBigUint64'], ['BigInt64', 8, 'getBigInt64', 'setBigInt64']]) {
    const ends = size === 1 ? [['', false]] : [['LE', true], ['BE', false]];
    for (const [suffix, little] of ends) {
      const check = (b, o) => { if (o < 0 || o + size > b.length) throw nodeError(RangeError, 'ERR_OUT_OF_RANGE', `The value of "offset" is out of range. It must be >= 0 and <= ${b.length - size}. Received ${o}`); };
      define(Buffer.prototype, `read${name}${suffix}`, function (o = 0) { check(this, o); return view(this)[get](o, little); });
      define(Buffer.prototype, `write${name}${suffix}`, function (v, o = 0) { check(this, o); view(this)[set](o, v, little); return o + size; });
      if (name.startsWith('UInt')) {
        define(Buffer.prototype, `read${name.replace('UInt', 'Uint')}${suffix}`, Buffer.prototype[`read${name}${suffix}`]);
        define(Buffer.prototype, `write${name.replace('UInt', 'Uint')}${suffix}`, Buffer.prototype[`write${name}${suffix}`]);
      }
    }
  }
  define(Buffer.prototype, 'toLocaleString', Buffer.prototype.toString);
  define(Buffer.prototype, customInspect, function () { return formatBuffer({}, this); });

  // ---------------------------------------------------------------- structuredClone
  function structuredClone(value, opts) {
    void opts;
    const seen = new Map();
    const clone = (v) => {
      if (typeof v === 'function' || typeof v === 'symbol') throw new DOMExceptionLike(`${typeof v === 'function' ? fnSource(v).slice(0, 40) : String(v)} could not be cloned.`, 'DataCloneError');
      if (typeof v !== 'object' || v === null) return v;
      if (seen.has(v)) return seen.get(v);
      let out;
      if (v instanceof Date) out = new Date(v.getTime());
      else if (v instanceof RegExp) out = new RegExp(v.source, v.flags);
      else if (v instanceof Map) { out = new Map(); seen.set(v, out); for (const [k, x] of v) out.set(clone(k), clone(x)); return out; }
      else if (v instanceof Set) { out = new Set(); seen.set(v, out); for (const x of v) out.add(clone(x)); return out; }
      else if (v instanceof ArrayBuffer) out = v.slice(0);
      else if (ArrayBuffer.isView(v)) { const C = v[bufferTag] ? Uint8Array : v.constructor; out = new C(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength)); }
      else if (v instanceof Error) { out = new (G[v.name] && G[v.name].prototype instanceof Error ? G[v.name] : Error)(v.message); if (v.stack) out.stack = v.stack; }
      else if (v instanceof Boolean || v instanceof Number || v instanceof String) out = Object(v.valueOf());
      else if (v instanceof WeakMap || v instanceof WeakSet || v instanceof Promise) throw new DOMExceptionLike(`${inspect(v)} could not be cloned.`, 'DataCloneError');
      else if (Array.isArray(v)) { out = new Array(v.length); seen.set(v, out); for (const k of Object.keys(v)) out[k] = clone(v[k]); return out; }
      else { out = {}; seen.set(v, out); for (const k of Object.keys(v)) out[k] = clone(v[k]); return out; }
      seen.set(v, out);
      return out;
    };
    return clone(value);
  }
  class DOMExceptionLike extends Error {
    constructor(message, name) { super(message); Object.defineProperty(this, 'name', { value: name, configurable: true, writable: true }); }
  }

  // ---------------------------------------------------------------- path (POSIX)
  function normalizeString(path, allowAboveRoot) {
    const res = [];
    for (const seg of path.split('/')) {
      if (seg === '' || seg === '.') continue;
      if (seg === '..') {
        if (res.length && res[res.length - 1] !== '..') res.pop();
        else if (allowAboveRoot) res.push('..');
      } else res.push(seg);
    }
    return res.join('/');
  }
  const checkPath = (p, name = 'path') => { if (typeof p !== 'string') throw nodeError(TypeError, 'ERR_INVALID_ARG_TYPE', `The "${name}" argument must be of type string. Received ${inspect(p)}`); };
  const path = {
    sep: '/', delimiter: ':',
    resolve(...parts) {
      let resolved = '', abs = false;
      for (let i = parts.length - 1; i >= -1 && !abs; i--) {
        const p = i >= 0 ? parts[i] : process.cwd();
        checkPath(p, `paths[${i}]`);
        if (p === '') continue;
        resolved = `${p}/${resolved}`;
        abs = p[0] === '/';
      }
      resolved = normalizeString(resolved, !abs);
      return abs ? `/${resolved}` : resolved.length ? resolved : '.';
    },
    normalize(p) {
      checkPath(p);
      if (p === '') return '.';
      const abs = p[0] === '/';
      const trailing = p[p.length - 1] === '/';
      let r = normalizeString(p, !abs);
      if (r === '' && !abs) r = '.';
      if (r !== '' && trailing) r += '/';
      return abs ? `/${r}` : r;
    },
    isAbsolute(p) { checkPath(p); return p.length > 0 && p[0] === '/'; },
    join(...parts) {
      parts.forEach((p) => checkPath(p));
      const joined = parts.filter((p) => p !== '').join('/');
      return joined === '' ? '.' : path.normalize(joined);
    },
    relative(from, to) {
      checkPath(from, 'from'); checkPath(to, 'to');
      if (from === to) return '';
      const f = path.resolve(from).split('/').filter(Boolean), t = path.resolve(to).split('/').filter(Boolean);
      let i = 0;
      while (i < f.length && i < t.length && f[i] === t[i]) i++;
      return [...Array(f.length - i).fill('..'), ...t.slice(i)].join('/');
    },
    dirname(p) {
      checkPath(p);
      if (p === '') return '.';
      const abs = p[0] === '/';
      let end = p.length;
      while (end > 1 && p[end - 1] === '/') end--;
      const i = p.lastIndexOf('/', end - 1);
      if (i === -1) return abs ? '/' : '.';
      if (i === 0) return '/';
      let j = i;
      while (j > 1 && p[j - 1] === '/') j--;
      return p.slice(0, j);
    },
    basename(p, ext) {
      checkPath(p);
      let end = p.length;
      while (end > 0 && p[end - 1] === '/') end--;
      if (end === 0) return '';
      const b = p.slice(p.lastIndexOf('/', end - 1) + 1, end);
      return ext !== undefined && b.endsWith(ext) && b !== ext ? b.slice(0, b.length - ext.length) : b;
    },
    extname(p) {
      checkPath(p);
      const b = path.basename(p);
      const i = b.lastIndexOf('.');
      return i <= 0 || b === '..' ? '' : b.slice(i);
    },
    parse(p) {
      checkPath(p);
      const root = p[0] === '/' ? '/' : '';
      const base = path.basename(p);
      const ext = path.extname(p);
      let dir = path.dirname(p);
      if (dir === '.' && !p.startsWith('.')) dir = '';
      return { root, dir, base, ext, name: ext ? base.slice(0, base.length - ext.length) : base };
    },
    format(o) {
      const dir = o.dir || o.root || '';
      const base = o.base || `${o.name || ''}${o.ext ? (o.ext[0] === '.' ? '' : '.') + o.ext : ''}`;
      return dir ? (dir === o.root ? `${dir}${base}` : `${dir}/${base}`) : base;
    },
    toNamespacedPath(p) { return p; },
  };
  path.posix = path;
  path.win32 = new Proxy({}, { get() { throw new Error('path.win32 is not available in SoulBox'); } });

  // ---------------------------------------------------------------- events
  class EventEmitter {
    constructor() { this._events = Object.create(null); this._max = EventEmitter.defaultMaxListeners; }
    _add(name, fn, prepend, once) {
      if (typeof fn !== 'function') throw nodeError(TypeError, 'ERR_INVALID_ARG_TYPE', `The "listener" argument must be of type function. Received ${inspect(fn)}`);
      if (!this._events) this._events = Object.create(null);
      if (this._events.newListener && name !== 'newListener') this.emit('newListener', name, fn);
      const list = this._events[name] || (this._events[name] = []);
      const entry = { fn, once };
      if (prepend) list.unshift(entry); else list.push(entry);
      return this;
    }
    on(n, f) { return this._add(n, f, false, false); }
    addListener(n, f) { return this.on(n, f); }
    prependListener(n, f) { return this._add(n, f, true, false); }
    once(n, f) { return this._add(n, f, false, true); }
    prependOnceListener(n, f) { return this._add(n, f, true, true); }
    off(n, f) {
      const list = this._events && this._events[n];
      if (!list) return this;
      for (let i = list.length - 1; i >= 0; i--) {
        if (list[i].fn === f) { list.splice(i, 1); if (this._events.removeListener) this.emit('removeListener', n, f); break; }
      }
      if (list.length === 0) delete this._events[n];
      return this;
    }
    removeListener(n, f) { return this.off(n, f); }
    removeAllListeners(n) { if (!this._events) return this; if (n === undefined) this._events = Object.create(null); else delete this._events[n]; return this; }
    emit(n, ...args) {
      const list = this._events && this._events[n];
      if (!list || list.length === 0) {
        if (n === 'error') {
          const e = args[0];
          if (e instanceof Error) throw e;
          const u = nodeError(Error, 'ERR_UNHANDLED_ERROR', `Unhandled error. (${inspect(e)})`); u.context = e; throw u;
        }
        return false;
      }
      for (const entry of list.slice()) {
        if (entry.once) this.off(n, entry.fn);
        entry.fn.apply(this, args);
      }
      return true;
    }
    listenerCount(n) { const l = this._events && this._events[n]; return l ? l.length : 0; }
    listeners(n) { const l = this._events && this._events[n]; return l ? l.map((e) => e.fn) : []; }
    rawListeners(n) { return this.listeners(n); }
    eventNames() { return this._events ? Reflect.ownKeys(this._events) : []; }
    setMaxListeners(n) { this._max = n; return this; }
    getMaxListeners() { return this._max; }
  }
  EventEmitter.defaultMaxListeners = 10;
  EventEmitter.EventEmitter = EventEmitter;
  // async, as in Node (its promise settles two turns after the event).
  EventEmitter.once = async (em, name) => new Promise((resolve, reject) => {
    const onErr = (e) => { em.off(name, ok); reject(e); };
    const ok = (...a) => { if (name !== 'error') em.off('error', onErr); resolve(a); };
    em.once(name, ok);
    if (name !== 'error') em.once('error', onErr);
  });
  EventEmitter.listenerCount = (em, n) => em.listenerCount(n);
  // Keep the emitter's bookkeeping out of inspect, as Node's own symbols are.
  for (const m of ['_add']) Object.defineProperty(EventEmitter.prototype, m, { enumerable: false });

  // ---------------------------------------------------------------- process
  const exitState = { code: undefined, exiting: false };
  const processEnv = {};
  const process = new EventEmitter();
  Object.defineProperty(process, '_events', { enumerable: false, writable: true, value: Object.create(null) });
  Object.defineProperty(process, '_max', { enumerable: false, writable: true, value: 10 });
  const hr = () => BigInt(Math.round(performance.now() * 1e6)) + hrBase;
  const hrBase = 1000000000n;
  Object.assign(process, {
    title: 'node', version: 'v20.0.0-soulbox', versions: { node: '20.0.0-soulbox', quickjs: '0.16.2', soulbox: '1' },
    arch: 'wasm32', platform: 'linux', release: { name: 'node' }, pid: 1, ppid: 0, execPath: '/usr/local/bin/node',
    execArgv: [], argv: ['/usr/local/bin/node', '[eval]'], argv0: 'node', env: processEnv, exitCode: undefined,
    features: {}, config: { variables: {} },
    cwd() { const [d, e] = os.getcwd(); return e ? '/work' : d; },
    chdir(d) { const e = os.chdir(path.resolve(d)); if (e) throw fsError(e, 'chdir', d); },
    exit(code) {
      if (code !== undefined) process.exitCode = code;
      const c = Number(process.exitCode ?? 0) | 0;
      if (!exitState.exiting) { exitState.exiting = true; try { process.emit('exit', c); } catch (e) { void e; } }
      std.out.flush(); std.err.flush();
      natives.exit(c);
    },
    abort() { natives.exit(134); },
    nextTick(fn, ...args) { checkFn(fn); tickQueue.push([fn, args]); if (!ticksScheduled) { ticksScheduled = true; queueMicrotask(() => { ticksScheduled = false; runTicks(); }); } },
    hrtime: Object.assign((prev) => {
      const t = hr();
      let s = Number(t / 1000000000n), n = Number(t % 1000000000n);
      if (prev) { s -= prev[0]; n -= prev[1]; if (n < 0) { s--; n += 1e9; } }
      return [s, n];
    }, { bigint: hr }),
    uptime() { return performance.now() / 1000; },
    memoryUsage: Object.assign(() => ({ rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 }), { rss: () => 0 }),
    cpuUsage() { const us = Math.round(os.cputime ? os.cputime() : performance.now() * 1000); return { user: us, system: 0 }; },
    umask() { return 0o22; },
    getuid() { return 0; }, getgid() { return 0; }, geteuid() { return 0; }, getegid() { return 0; },
    emitWarning(w, type = 'Warning') { err(`(node:1) ${typeof w === 'string' ? `${type}: ${w}` : `${w.name}: ${w.message}`}`); },
    kill() { throw nodeError(Error, 'ENOSYS', 'process.kill is not available in SoulBox'); },
  });
  const stream = (file, fd) => {
    const s = new EventEmitter();
    Object.defineProperty(s, '_events', { enumerable: false, writable: true, value: Object.create(null) });
    Object.assign(s, {
      fd, isTTY: false, writable: true, columns: 80,
      write(chunk, enc, cb) {
        if (typeof enc === 'function') { cb = enc; enc = undefined; }
        if (typeof chunk === 'string') file.puts(chunk);
        else if (chunk instanceof Uint8Array) file.write(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        else throw nodeError(TypeError, 'ERR_INVALID_ARG_TYPE', `The "chunk" argument must be of type string or an instance of Buffer or Uint8Array. Received ${inspect(chunk)}`);
        if (cb) process.nextTick(cb);
        return true;
      },
      end(chunk, enc, cb) { if (typeof chunk === 'function') { cb = chunk; chunk = undefined; } if (chunk !== undefined) this.write(chunk, enc); if (cb) process.nextTick(cb); return this; },
      cork() {}, uncork() {}, getColorDepth() { return 1; }, hasColors() { return false; },
    });
    return s;
  };
  process.stdout = stream(std.out, 1);
  process.stderr = stream(std.err, 2);
  process.stdin = (() => {
    const s = new EventEmitter();
    Object.defineProperty(s, '_events', { enumerable: false, writable: true, value: Object.create(null) });
    Object.assign(s, { fd: 0, isTTY: false,
      setEncoding() { return s; }, resume() { return s; }, pause() { return s; },
      read() { return std.in.readAsString(); } });
    // Data arrives once, when a listener asks for it: the whole of stdin, then 'end'.
    const on = s.on;
    s.on = function (name, fn) {
      on.call(s, name, fn);
      if ((name === 'data' || name === 'readable') && !s._started) {
        s._started = true;
        setImmediate(() => { const text = std.in.readAsString(); if (text) s.emit('data', text); s.emit('end'); s.emit('close'); });
      }
      return s;
    };
    s.addListener = s.on;
    return s;
  })();
  Object.defineProperty(process, 'exitCode', {
    get() { return exitState.code; },
    set(v) { exitState.code = v; }, enumerable: true, configurable: true,
  });

  // ---------------------------------------------------------------- fs
  const toPath = (p) => {
    if (p instanceof URL) return fileURLToPath(p);
    if (p instanceof Uint8Array) return utf8Decode(p);
    checkPath(p);
    return p;
  };
  const O = { r: os.O_RDONLY, w: os.O_WRONLY | os.O_CREAT | os.O_TRUNC, a: os.O_WRONLY | os.O_CREAT | os.O_APPEND,
    'r+': os.O_RDWR, 'w+': os.O_RDWR | os.O_CREAT | os.O_TRUNC, 'a+': os.O_RDWR | os.O_CREAT | os.O_APPEND,
    wx: os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_EXCL, ax: os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL };
  const encOf = (o) => (typeof o === 'string' ? o : o && o.encoding) || null;
  function readAll(fd) {
    const chunks = [];
    let total = 0;
    for (;;) {
      const buf = new ArrayBuffer(65536);
      const n = os.read(fd, buf, 0, buf.byteLength);
      if (n < 0) return n;
      if (n === 0) break;
      chunks.push(new Uint8Array(buf, 0, n)); total += n;
    }
    const out = Buffer.alloc(total);
    let off = 0;
    for (const c of chunks) { out.set(c, off); off += c.length; }
    return out;
  }
  function statOf(p, follow) {
    const [st, e] = follow ? os.stat(p) : (os.lstat || os.stat)(p);
    if (e) throw fsError(e, follow ? 'stat' : 'lstat', p);
    return new Stats(st);
  }
  const S_IFMT = 0o170000;
  class Stats {
    constructor(st) {
      Object.assign(this, { dev: st.dev, mode: st.mode, nlink: st.nlink, uid: st.uid, gid: st.gid, rdev: st.rdev,
        blksize: st.blksize || 4096, ino: st.ino, size: st.size, blocks: st.blocks,
        atimeMs: st.atime, mtimeMs: st.mtime, ctimeMs: st.ctime, birthtimeMs: st.ctime,
        atime: new Date(st.atime), mtime: new Date(st.mtime), ctime: new Date(st.ctime), birthtime: new Date(st.ctime) });
    }
    isFile() { return (this.mode & S_IFMT) === os.S_IFREG; }
    isDirectory() { return (this.mode & S_IFMT) === os.S_IFDIR; }
    isSymbolicLink() { return (this.mode & S_IFMT) === os.S_IFLNK; }
    isFIFO() { return (this.mode & S_IFMT) === os.S_IFIFO; }
    isSocket() { return (this.mode & S_IFMT) === os.S_IFSOCK; }
    isCharacterDevice() { return (this.mode & S_IFMT) === os.S_IFCHR; }
    isBlockDevice() { return (this.mode & S_IFMT) === os.S_IFBLK; }
  }
  class Dirent {
    constructor(name, dir, mode) { this.name = name; this.parentPath = dir; this.path = dir; Object.defineProperty(this, '_mode', { value: mode }); }
    isFile() { return (this._mode & S_IFMT) === os.S_IFREG; }
    isDirectory() { return (this._mode & S_IFMT) === os.S_IFDIR; }
    isSymbolicLink() { return (this._mode & S_IFMT) === os.S_IFLNK; }
    isFIFO() { return false; } isSocket() { return false; } isCharacterDevice() { return false; } isBlockDevice() { return false; }
  }
  const fsSync = {
    constants: { F_OK: 0, R_OK: 4, W_OK: 2, X_OK: 1, O_RDONLY: os.O_RDONLY, O_WRONLY: os.O_WRONLY, O_RDWR: os.O_RDWR, O_CREAT: os.O_CREAT, O_EXCL: os.O_EXCL, O_TRUNC: os.O_TRUNC, O_APPEND: os.O_APPEND, COPYFILE_EXCL: 1 },
    readFileSync(p, opts) {
      const file = toPath(p);
      const fd = os.open(file, os.O_RDONLY);
      if (fd < 0) throw fsError(fd, 'open', file);
      const [st] = os.stat(file);
      if (st && (st.mode & S_IFMT) === os.S_IFDIR) { os.close(fd); throw fsError('EISDIR', 'read'); }
      const data = readAll(fd);
      os.close(fd);
      if (typeof data === 'number') throw fsError(data, 'read');
      const enc = encOf(opts);
      return enc ? data.toString(enc) : data;
    },
    writeFileSync(p, data, opts) {
      const file = toPath(p);
      const flag = (opts && typeof opts === 'object' && opts.flag) || 'w';
      const fd = os.open(file, O[flag] ?? O.w, (opts && opts.mode) || 0o666);
      if (fd < 0) throw fsError(fd, 'open', file);
      const bytes = typeof data === 'string' ? Buffer.from(data, encOf(opts) || 'utf8') : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : Buffer.from(String(data));
      let off = 0;
      while (off < bytes.length) {
        const n = os.write(fd, bytes.buffer, bytes.byteOffset + off, bytes.length - off);
        if (n <= 0) { os.close(fd); throw fsError(n || 'EIO', 'write'); }
        off += n;
      }
      os.close(fd);
    },
    appendFileSync(p, data, opts) { fsSync.writeFileSync(p, data, Object.assign({}, typeof opts === 'string' ? { encoding: opts } : opts, { flag: 'a' })); },
    existsSync(p) { try { const [, e] = os.stat(toPath(p)); return e === 0; } catch { return false; } },
    accessSync(p) { const f = toPath(p); const [, e] = os.stat(f); if (e) throw fsError(e, 'access', f); },
    statSync(p, opts) { try { return statOf(toPath(p), true); } catch (e) { if (opts && opts.throwIfNoEntry === false && e.code === 'ENOENT') return undefined; throw e; } },
    lstatSync(p) { return statOf(toPath(p), false); },
    mkdirSync(p, opts) {
      const dir = toPath(p);
      const recursive = typeof opts === 'object' && opts !== null && opts.recursive;
      if (!recursive) { const e = os.mkdir(dir, 0o777); if (e) throw fsError(e, 'mkdir', dir); return undefined; }
      const abs = path.resolve(dir);
      let cur = '', first;
      for (const seg of abs.split('/').filter(Boolean)) {
        cur += '/' + seg;
        const [st] = os.stat(cur);
        if (st) { if ((st.mode & S_IFMT) !== os.S_IFDIR) throw fsError('ENOTDIR', 'mkdir', dir); continue; }
        const e = os.mkdir(cur, 0o777);
        if (e) throw fsError(e, 'mkdir', dir);
        if (first === undefined) first = cur;
      }
      return first;
    },
    readdirSync(p, opts) {
      const dir = toPath(p);
      const [names, e] = os.readdir(dir);
      if (e) throw fsError(e, 'scandir', dir);
      const list = names.filter((n) => n !== '.' && n !== '..').sort();
      if (opts && opts.withFileTypes) return list.map((n) => { const [st] = (os.lstat || os.stat)(`${dir}/${n}`); return new Dirent(n, dir, st ? st.mode : 0); });
      return list;
    },
    unlinkSync(p) { const f = toPath(p); const [st] = (os.lstat || os.stat)(f); if (st && (st.mode & S_IFMT) === os.S_IFDIR) throw fsError('EISDIR', 'unlink', f); const e = os.remove(f); if (e) throw fsError(e, 'unlink', f); },
    rmdirSync(p, opts) { const f = toPath(p); if (opts && opts.recursive) return fsSync.rmSync(f, { recursive: true }); const e = os.remove(f); if (e) throw fsError(e, 'rmdir', f); return undefined; },
    rmSync(p, opts = {}) {
      const f = toPath(p);
      const [st, e] = (os.lstat || os.stat)(f);
      if (e) { if (opts.force) return; throw fsError(e, 'rm', f); }
      if ((st.mode & S_IFMT) === os.S_IFDIR) {
        if (!opts.recursive) throw Object.assign(nodeError(Error, 'ERR_FS_EISDIR', `Path is a directory: rm returned EISDIR (is a directory) ${f}`), { errno: 21, syscall: 'rm', path: f });
        for (const n of fsSync.readdirSync(f)) fsSync.rmSync(`${f}/${n}`, opts);
      }
      const r = os.remove(f);
      if (r) throw fsError(r, 'rm', f);
    },
    renameSync(a, b) { const e = os.rename(toPath(a), toPath(b)); if (e) throw fsError(e, 'rename', a, b); },
    copyFileSync(a, b, mode) { if (mode & 1 && fsSync.existsSync(b)) throw fsError('EEXIST', 'copyfile', a, b); fsSync.writeFileSync(b, fsSync.readFileSync(a)); },
    cpSync(a, b, opts = {}) {
      const st = fsSync.statSync(a);
      if (st.isDirectory()) {
        if (!opts.recursive) throw nodeError(Error, 'ERR_FS_EISDIR', `Recursive option is required to copy a directory: ${a}`);
        fsSync.mkdirSync(b, { recursive: true });
        for (const n of fsSync.readdirSync(a)) fsSync.cpSync(`${a}/${n}`, `${b}/${n}`, opts);
      } else fsSync.copyFileSync(a, b);
    },
    realpathSync(p) { const f = toPath(p); const [r, e] = os.realpath(f); if (e) throw fsError(e, 'realpath', f); return r; },
    mkdtempSync(prefix) { for (let i = 0; i < 100; i++) { const d = prefix + Math.random().toString(36).slice(2, 8); if (os.mkdir(d, 0o700) === 0) return d; } throw fsError('EEXIST', 'mkdtemp', prefix); },
    symlinkSync(t, p) { const e = os.symlink(toPath(t), toPath(p)); if (e) throw fsError(e, 'symlink', t, p); },
    readlinkSync(p) { const [r, e] = os.readlink(toPath(p)); if (e) throw fsError(e, 'readlink', p); return r; },
    chmodSync() {}, chownSync() {},
    utimesSync(p, a, m) { const e = os.utimes(toPath(p), +a * (a instanceof Date ? 1 : 1000), +m * (m instanceof Date ? 1 : 1000)); if (e) throw fsError(e, 'utime', p); },
    truncateSync(p, len = 0) { const b = fsSync.readFileSync(p); fsSync.writeFileSync(p, Buffer.concat([b.subarray(0, len), Buffer.alloc(Math.max(0, len - b.length))])); },
    openSync(p, flags = 'r', mode = 0o666) { const f = toPath(p); const fd = os.open(f, typeof flags === 'number' ? flags : O[flags], mode); if (fd < 0) throw fsError(fd, 'open', f); return fd; },
    closeSync(fd) { os.close(fd); },
    writeSync(fd, data, a, b) {
      const bytes = typeof data === 'string' ? Buffer.from(data, typeof b === 'string' ? b : 'utf8') : data;
      const off = typeof data === 'string' ? 0 : (a || 0), len = typeof data === 'string' ? bytes.length : (b ?? bytes.length - off);
      const n = os.write(fd, bytes.buffer, bytes.byteOffset + off, len);
      if (n < 0) throw fsError(n, 'write');
      return n;
    },
    readSync(fd, buf, off = 0, len = buf.length - off, pos = null) {
      if (pos !== null && pos !== undefined) os.seek(fd, pos, std.SEEK_SET);
      const n = os.read(fd, buf.buffer, buf.byteOffset + off, len);
      if (n < 0) throw fsError(n, 'read');
      return n;
    },
    fstatSync() { throw nodeError(Error, 'ENOSYS', 'fs.fstatSync is not available in SoulBox'); },
    watch() { throw nodeError(Error, 'ERR_FEATURE_UNAVAILABLE_ON_PLATFORM', 'fs.watch is not available in SoulBox'); },
    createReadStream() { throw nodeError(Error, 'ERR_FEATURE_UNAVAILABLE_ON_PLATFORM', 'fs streams are not available in SoulBox yet; use fs.readFileSync'); },
    createWriteStream() { throw nodeError(Error, 'ERR_FEATURE_UNAVAILABLE_ON_PLATFORM', 'fs streams are not available in SoulBox yet; use fs.writeFileSync'); },
    Stats, Dirent,
  };
  const syncNames = Object.keys(fsSync).filter((k) => k.endsWith('Sync'));
  const fsPromises = {};
  const fs = Object.assign({}, fsSync);
  for (const name of syncNames) {
    const base = name.slice(0, -4);
    if (base === 'exists') {
      fs.exists = (p, cb) => { const r = fsSync.existsSync(p); setImmediate(() => cb(r)); };
      continue;
    }
    fs[base] = (...args) => {
      const cb = args.pop();
      if (typeof cb !== 'function') throw nodeError(TypeError, 'ERR_INVALID_ARG_TYPE', `The "cb" argument must be of type function. Received ${inspect(cb)}`);
      let result, error = null;
      try { result = fsSync[name](...args); } catch (e) { error = e; }
      setImmediate(() => (error ? cb(error) : cb(null, result)));
    };
    fsPromises[base === 'rmdir' ? 'rmdir' : base] = (...args) => new Promise((resolve, reject) => {
      try { resolve(fsSync[name](...args)); } catch (e) { reject(e); }
    });
  }
  fsPromises.constants = fsSync.constants;
  fs.promises = fsPromises;

  // ---------------------------------------------------------------- os
  const osModule = {
    EOL: '\n', platform: () => 'linux', type: () => 'Linux', arch: () => 'wasm32', release: () => '6.0.0-soulbox',
    version: () => '#1 SoulBox', machine: () => 'wasm32', hostname: () => 'soulbox', homedir: () => '/work', tmpdir: () => '/tmp',
    endianness: () => 'LE', uptime: () => Math.floor(performance.now() / 1000), loadavg: () => [0, 0, 0],
    totalmem: () => 0, freemem: () => 0, availableParallelism: () => 1,
    cpus: () => [{ model: 'wasm32', speed: 0, times: { user: 0, nice: 0, sys: 0, idle: 0, irq: 0 } }],
    networkInterfaces: () => ({}), userInfo: () => ({ uid: 0, gid: 0, username: 'soulbox', homedir: '/work', shell: null }),
    constants: { signals: {}, errno: {} }, devNull: '/dev/null',
  };

  // ---------------------------------------------------------------- util
  const types = {
    isPromise: (v) => v instanceof Promise, isDate: (v) => v instanceof Date, isRegExp: (v) => v instanceof RegExp,
    isMap: (v) => v instanceof Map, isSet: (v) => v instanceof Set, isTypedArray: (v) => ArrayBuffer.isView(v) && !(v instanceof DataView),
    isUint8Array: (v) => v instanceof Uint8Array, isArrayBuffer: (v) => v instanceof ArrayBuffer, isNativeError: (v) => v instanceof Error,
    isAsyncFunction: (v) => typeof v === 'function' && constructorName(v) === 'AsyncFunction',
    isGeneratorFunction: (v) => typeof v === 'function' && /GeneratorFunction$/.test(constructorName(v) || ''),
    isWeakMap: (v) => v instanceof WeakMap, isWeakSet: (v) => v instanceof WeakSet, isBoxedPrimitive: (v) => v instanceof Number || v instanceof String || v instanceof Boolean,
  };
  function isDeepStrictEqual(a, b, strict = true, memo = []) {
    if (strict ? Object.is(a, b) : (a == b || (a !== a && b !== b))) return true; // eslint-disable-line eqeqeq
    if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
    if (strict && Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
    if (Object.prototype.toString.call(a) !== Object.prototype.toString.call(b)) return false;
    if (memo.some(([x, y]) => x === a && y === b)) return true;
    memo = memo.concat([[a, b]]);
    if (a instanceof Date) return a.getTime() === b.getTime();
    if (a instanceof RegExp) return String(a) === String(b);
    if (a instanceof Error && (a.message !== b.message || a.name !== b.name)) return false;
    if (ArrayBuffer.isView(a)) { if (a.length !== b.length) return false; for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false; }
    if (a instanceof Map) {
      if (a.size !== b.size) return false;
      for (const [k, v] of a) { if (!b.has(k) || !isDeepStrictEqual(v, b.get(k), strict, memo)) return false; }
    } else if (a instanceof Set) {
      if (a.size !== b.size) return false;
      for (const v of a) { if (!b.has(v) && ![...b].some((w) => isDeepStrictEqual(v, w, strict, memo))) return false; }
    }
    const ka = Object.keys(a), kb = Object.keys(b);
    if (ka.length !== kb.length) return false;
    for (const k of ka) { if (!Object.prototype.hasOwnProperty.call(b, k) || !isDeepStrictEqual(a[k], b[k], strict, memo)) return false; }
    return true;
  }
  const customPromisify = Symbol.for('nodejs.util.promisify.custom');
  const util = {
    inspect, format, formatWithOptions, types, isDeepStrictEqual: (a, b) => isDeepStrictEqual(a, b, true),
    promisify(fn) {
      if (fn[customPromisify]) return fn[customPromisify];
      return function (...args) { return new Promise((resolve, reject) => fn.call(this, ...args, (e, v) => (e ? reject(e) : resolve(v)))); };
    },
    callbackify(fn) { return function (...args) { const cb = args.pop(); fn.apply(this, args).then((v) => process.nextTick(cb, null, v), (e) => process.nextTick(cb, e)); }; },
    inherits(ctor, superCtor) { Object.setPrototypeOf(ctor.prototype, superCtor.prototype); Object.setPrototypeOf(ctor, superCtor); define(ctor, 'super_', superCtor); },
    deprecate(fn, msg) { let warned = false; return function (...a) { if (!warned) { warned = true; process.emitWarning(msg, 'DeprecationWarning'); } return fn.apply(this, a); }; },
    isArray: Array.isArray, TextEncoder, TextDecoder,
    stripVTControlCharacters: (s) => s.replace(/\u001b\[[0-9;]*[A-Za-z]/g, ''),
    toUSVString: (s) => String(s).replace(/[\ud800-\udfff]/g, '\ufffd'),
    debuglog: () => Object.assign(() => {}, { enabled: false }),
    styleText: (f, s) => s,
    parseArgs() { throw new Error('util.parseArgs is not available in SoulBox'); },
  };
  util.promisify.custom = customPromisify;
  const setTimeoutPromise = (ms, v) => new Promise((r) => setTimeout(r, ms, v));
  define(setTimeout, customPromisify, setTimeoutPromise);
  define(setImmediate, customPromisify, (v) => new Promise((r) => setImmediate(r, v)));

  // ---------------------------------------------------------------- assert
  class AssertionError extends Error {
    constructor(options) {
      super(options.message);
      Object.defineProperty(this, 'name', { value: 'AssertionError', configurable: true, writable: true });
      Object.assign(this, { generatedMessage: !options.userMessage, code: 'ERR_ASSERTION', actual: options.actual, expected: options.expected, operator: options.operator });
    }
  }
  const fail = (actual, expected, message, operator, text) => {
    if (message instanceof Error) throw message;
    throw new AssertionError({ message: message ?? text, userMessage: message !== undefined, actual, expected, operator });
  };
  const show = (v) => inspect(v, { depth: 1000 });
  function assert(v, message) { if (!v) fail(v, true, message, '==', message === undefined && arguments.length === 0 ? 'No value argument passed to `assert.ok()`' : 'The expression evaluated to a falsy value:\n\n  assert(' + show(v) + ')\n'); }
  Object.assign(assert, {
    ok(v, message) { if (!v) fail(v, true, message, '==', 'The expression evaluated to a falsy value:\n\n  assert.ok(' + show(v) + ')\n'); },
    equal(a, b, m) { if (!(a == b || (a !== a && b !== b))) fail(a, b, m, '==', `${show(a)} == ${show(b)}`); }, // eslint-disable-line eqeqeq
    notEqual(a, b, m) { if (a == b) fail(a, b, m, '!=', `${show(a)} != ${show(b)}`); }, // eslint-disable-line eqeqeq
    strictEqual(a, b, m) { if (!Object.is(a, b)) fail(a, b, m, 'strictEqual', `Expected values to be strictly equal:\n\n${show(a)} !== ${show(b)}\n`); },
    notStrictEqual(a, b, m) { if (Object.is(a, b)) fail(a, b, m, 'notStrictEqual', `Expected "actual" to be strictly unequal to: ${show(b)}`); },
    deepEqual(a, b, m) { if (!isDeepStrictEqual(a, b, false)) fail(a, b, m, 'deepEqual', `Expected values to be loosely deep-equal:\n\n${show(a)}\n\nshould loosely deep-equal\n\n${show(b)}`); },
    deepStrictEqual(a, b, m) { if (!isDeepStrictEqual(a, b, true)) fail(a, b, m, 'deepStrictEqual', `Expected values to be strictly deep-equal:\n+ actual - expected\n\n+ ${show(a)}\n- ${show(b)}`); },
    notDeepStrictEqual(a, b, m) { if (isDeepStrictEqual(a, b, true)) fail(a, b, m, 'notDeepStrictEqual', `Expected "actual" not to be strictly deep-equal to: ${show(b)}`); },
    notDeepEqual(a, b, m) { if (isDeepStrictEqual(a, b, false)) fail(a, b, m, 'notDeepEqual', `Expected "actual" not to be loosely deep-equal to: ${show(b)}`); },
    fail(m = 'Failed') { fail(undefined, undefined, m, 'fail'); },
    match(s, re, m) { if (!re.test(s)) fail(s, re, m, 'match', `The input did not match the regular expression ${re}. Input:\n\n${show(s)}\n`); },
    doesNotMatch(s, re, m) { if (re.test(s)) fail(s, re, m, 'doesNotMatch', `The input was expected to not match the regular expression ${re}. Input:\n\n${show(s)}\n`); },
    throws(fn, expected, m) {
      try { fn(); } catch (e) { checkThrown(e, expected, m); return; }
      fail(undefined, expected, typeof expected === 'string' ? expected : m, 'throws', 'Missing expected exception.');
    },
    doesNotThrow(fn, m) { try { fn(); } catch (e) { fail(e, undefined, m, 'doesNotThrow', `Got unwanted exception.\nActual message: "${e && e.message}"`); } },
    async rejects(p, expected, m) {
      try { await (typeof p === 'function' ? p() : p); } catch (e) { checkThrown(e, expected, m); return; }
      fail(undefined, expected, m, 'rejects', 'Missing expected rejection.');
    },
    async doesNotReject(p, m) { try { await (typeof p === 'function' ? p() : p); } catch (e) { fail(e, undefined, m, 'doesNotReject', `Got unwanted rejection.\nActual message: "${e && e.message}"`); } },
    ifError(v) { if (v !== null && v !== undefined) throw v; },
    AssertionError,
  });
  function checkThrown(e, expected, m) {
    if (expected === undefined || typeof expected === 'string') return;
    if (expected instanceof RegExp) { if (!expected.test(String(e))) fail(e, expected, m, 'throws', `The input did not match the regular expression ${expected}. Input:\n\n${show(String(e))}\n`); return; }
    if (typeof expected === 'function') {
      if (expected.prototype !== undefined && e instanceof expected) return;
      if (Error.isPrototypeOf(expected) || expected === Error) throw e;
      if (expected.call({}, e) !== true) fail(e, expected, m, 'throws', 'The validation function is expected to return "true". Received false');
      return;
    }
    for (const k of Object.keys(expected)) {
      const want = expected[k], got = e[k];
      if (want instanceof RegExp && typeof got === 'string' ? !want.test(got) : !isDeepStrictEqual(got, want)) {
        fail(e, expected, m, 'throws', `Expected values to be strictly deep-equal:\n+ actual - expected\n\n  Comparison {\n+   ${k}: ${show(got)}\n-   ${k}: ${show(want)}\n  }`);
      }
    }
  }
  assert.strict = Object.assign((v, m) => assert(v, m), assert, { equal: assert.strictEqual, deepEqual: assert.deepStrictEqual, notEqual: assert.notStrictEqual, notDeepEqual: assert.notDeepStrictEqual });
  assert.strict.strict = assert.strict;

  // ---------------------------------------------------------------- url, querystring
  const qsEscape = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
  const qsUnescape = (s) => { try { return decodeURIComponent(s); } catch { return s; } };
  const querystring = {
    escape: qsEscape, unescape: qsUnescape,
    parse(str, sep = '&', eq = '=') {
      const out = Object.create(null);
      if (typeof str !== 'string' || str === '') return out;
      for (const part of str.split(sep)) {
        if (part === '') continue;
        const i = part.indexOf(eq);
        const k = qsUnescape((i >= 0 ? part.slice(0, i) : part).replace(/\+/g, ' '));
        const v = i >= 0 ? qsUnescape(part.slice(i + eq.length).replace(/\+/g, ' ')) : '';
        if (k in out) out[k] = [].concat(out[k], v); else out[k] = v;
      }
      return out;
    },
    stringify(obj, sep = '&', eq = '=') {
      if (!obj || typeof obj !== 'object') return '';
      const str = (v) => (typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') && (typeof v !== 'number' || Number.isFinite(v)) ? qsEscape(String(v)) : '';
      return Object.keys(obj).map((k) => Array.isArray(obj[k]) ? obj[k].map((v) => qsEscape(k) + eq + str(v)).join(sep) : qsEscape(k) + eq + str(obj[k])).filter(Boolean).join(sep);
    },
  };
  querystring.decode = querystring.parse; querystring.encode = querystring.stringify;
  const formEncode = (s) => encodeURIComponent(s).replace(/%20/g, '+').replace(/[!'()~]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
  const formDecode = (s) => qsUnescape(s.replace(/\+/g, ' '));
  class URLSearchParams {
    constructor(init = '') {
      this._list = [];
      Object.defineProperty(this, '_url', { value: null, writable: true });
      if (typeof init === 'string') this._parse(init);
      else if (init instanceof URLSearchParams) this._list = init._list.map((p) => p.slice());
      else if (init && typeof init[Symbol.iterator] === 'function') for (const [k, v] of init) this._list.push([String(k), String(v)]);
      else if (init && typeof init === 'object') for (const k of Object.keys(init)) this._list.push([k, String(init[k])]);
      Object.defineProperty(this, '_list', { enumerable: false });
    }
    _parse(s) { this._list = []; if (s[0] === '?') s = s.slice(1); for (const part of s.split('&')) { if (!part) continue; const i = part.indexOf('='); this._list.push(i >= 0 ? [formDecode(part.slice(0, i)), formDecode(part.slice(i + 1))] : [formDecode(part), '']); } }
    _update() { if (this._url) { const s = this.toString(); this._url._query = s ? '?' + s : ''; } }
    get size() { return this._list.length; }
    append(k, v) { this._list.push([String(k), String(v)]); this._update(); }
    delete(k) { this._list = this._list.filter(([x]) => x !== k); this._update(); }
    get(k) { const p = this._list.find(([x]) => x === k); return p ? p[1] : null; }
    getAll(k) { return this._list.filter(([x]) => x === k).map((p) => p[1]); }
    has(k) { return this._list.some(([x]) => x === k); }
    set(k, v) { const i = this._list.findIndex(([x]) => x === k); if (i < 0) this._list.push([String(k), String(v)]); else { this._list[i][1] = String(v); this._list = this._list.filter(([x], j) => x !== k || j === i); } this._update(); }
    sort() { this._list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)); this._update(); }
    forEach(fn, self) { for (const [k, v] of this._list) fn.call(self, v, k, this); }
    keys() { return this._list.map((p) => p[0])[Symbol.iterator](); }
    values() { return this._list.map((p) => p[1])[Symbol.iterator](); }
    entries() { return this._list.map((p) => p.slice())[Symbol.iterator](); }
    [Symbol.iterator]() { return this.entries(); }
    toString() { return this._list.map(([k, v]) => formEncode(k) + '=' + formEncode(v)).join('&'); }
    [customInspect]() { return this._list.length ? `URLSearchParams { ${this._list.map(([k, v]) => `${strEscape(k)} => ${strEscape(v)}`).join(', ')} }` : 'URLSearchParams {}'; }
  }
  const specialPorts = { 'http:': '80', 'https:': '443', 'ws:': '80', 'wss:': '443', 'ftp:': '21', 'file:': '' };
  const pathEncode = (s) => s.replace(/[\s"<>`#?{}]/g, (c) => encodeURIComponent(c)).replace(/[^\x20-\x7e]/g, (c) => encodeURIComponent(c));
  class URL {
    constructor(input, base) {
      input = String(input).trim();
      const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):(.*)$/s.exec(input);
      if (!m) {
        if (base === undefined) throw nodeError(TypeError, 'ERR_INVALID_URL', 'Invalid URL');
        const b = base instanceof URL ? base : new URL(base);
        this._set(b._resolve(input.replace(/\\/g, '/')));
        return;
      }
      this._set(input);
    }
    _set(input) {
      const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):(.*)$/s.exec(input);
      if (!m) throw nodeError(TypeError, 'ERR_INVALID_URL', 'Invalid URL');
      const protocol = m[1].toLowerCase() + ':';
      let rest = m[2];
      const special = protocol in specialPorts;
      if (special) rest = rest.replace(/\\/g, '/');
      let hash = '', query = '';
      const h = rest.indexOf('#'); if (h >= 0) { hash = rest.slice(h); rest = rest.slice(0, h); }
      const q = rest.indexOf('?'); if (q >= 0) { query = rest.slice(q); rest = rest.slice(0, q); }
      let username = '', password = '', hostname = '', port = '', pathname = rest, hasHost = false;
      if (rest.startsWith('//') || (special && protocol !== 'file:')) {
        rest = protocol === 'file:' ? rest.slice(2) : rest.replace(/^\/*/, '');
        hasHost = true;
        const slash = rest.search(/\//);
        let auth = slash >= 0 ? rest.slice(0, slash) : rest;
        pathname = slash >= 0 ? rest.slice(slash) : (special ? '/' : '');
        const at = auth.lastIndexOf('@');
        if (at >= 0) { const cred = auth.slice(0, at); auth = auth.slice(at + 1); const c = cred.indexOf(':'); username = c >= 0 ? cred.slice(0, c) : cred; password = c >= 0 ? cred.slice(c + 1) : ''; }
        const pm = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(auth);
        if (!pm) throw nodeError(TypeError, 'ERR_INVALID_URL', 'Invalid URL');
        hostname = special ? pm[1].toLowerCase() : pm[1];
        port = pm[2] || '';
        if (port !== '') { if (Number(port) > 65535) throw nodeError(TypeError, 'ERR_INVALID_URL', 'Invalid URL'); port = String(Number(port)); }
        if (special && protocol !== 'file:' && hostname === '') throw nodeError(TypeError, 'ERR_INVALID_URL', 'Invalid URL');
        if (/[\s<>^|%]/.test(hostname) && special) throw nodeError(TypeError, 'ERR_INVALID_URL', 'Invalid URL');
        if (specialPorts[protocol] === port) port = '';
      }
      if (special || hasHost) pathname = pathEncode(normalizeUrlPath(pathname || '/'));
      Object.defineProperties(this, {
        _protocol: { value: protocol, writable: true }, _username: { value: username, writable: true },
        _password: { value: password, writable: true }, _hostname: { value: hostname, writable: true },
        _port: { value: port, writable: true }, _pathname: { value: pathname, writable: true },
        _query: { value: query.replace(/[\s"<>`#]/g, (c) => encodeURIComponent(c)), writable: true }, _hash: { value: hash.replace(/[\s"<>`]/g, (c) => encodeURIComponent(c)), writable: true },
        _hasHost: { value: hasHost, writable: true }, _params: { value: null, writable: true },
      });
    }
    _resolve(rel) {
      if (rel.startsWith('//')) return this._protocol + rel;
      const origin = `${this._protocol}${this._hasHost ? '//' + this.host : ''}`;
      if (rel === '') return this.href.replace(/#.*$/, '');
      if (rel[0] === '#') return this.href.replace(/#.*$/, '') + rel;
      if (rel[0] === '?') return origin + this._pathname + rel;
      if (rel[0] === '/') return origin + rel;
      const dir = this._pathname.slice(0, this._pathname.lastIndexOf('/') + 1);
      return origin + dir + rel;
    }
    get href() { return `${this._protocol}${this._hasHost ? '//' : ''}${this._username ? this._username + (this._password ? ':' + this._password : '') + '@' : ''}${this.host}${this._pathname}${this._query}${this._hash}`; }
    set href(v) { this._set(String(v)); }
    get protocol() { return this._protocol; }
    set protocol(v) { this._protocol = String(v).replace(/:?$/, ':'); }
    get username() { return this._username; } set username(v) { this._username = String(v); }
    get password() { return this._password; } set password(v) { this._password = String(v); }
    get host() { return this._hostname + (this._port ? ':' + this._port : ''); }
    set host(v) { const [h, p] = String(v).split(':'); this._hostname = h; this._port = p || ''; }
    get hostname() { return this._hostname; } set hostname(v) { this._hostname = String(v); }
    get port() { return this._port; } set port(v) { this._port = specialPorts[this._protocol] === String(v) ? '' : String(v); }
    get origin() { return this._protocol in specialPorts && this._protocol !== 'file:' ? `${this._protocol}//${this.host}` : 'null'; }
    get pathname() { return this._pathname; } set pathname(v) { this._pathname = pathEncode(String(v)[0] === '/' ? String(v) : '/' + v); }
    get search() { return this._query.length > 1 ? this._query : ''; }
    set search(v) { v = String(v); this._query = v === '' ? '' : v[0] === '?' ? v : '?' + v; if (this._params) this._params._parse(this._query); }
    get searchParams() { if (!this._params) { this._params = new URLSearchParams(this._query); this._params._url = this; } return this._params; }
    get hash() { return this._hash.length > 1 ? this._hash : ''; }
    set hash(v) { v = String(v); this._hash = v === '' ? '' : v[0] === '#' ? v : '#' + v; }
    toString() { return this.href; }
    toJSON() { return this.href; }
    static canParse(u, b) { try { new URL(u, b); return true; } catch { return false; } } // eslint-disable-line no-new
    [customInspect](depth, opts) {
      const obj = {};
      for (const k of ['href', 'origin', 'protocol', 'username', 'password', 'host', 'hostname', 'port', 'pathname', 'search', 'searchParams', 'hash']) obj[k] = this[k];
      return `URL ${inspect(obj, Object.assign({}, opts, { customInspect: true })).replace(/^\{/, '{')}`;
    }
  }
  function normalizeUrlPath(p) {
    const out = [];
    const segs = p.split('/');
    for (let i = 1; i < segs.length; i++) {
      const s = segs[i];
      if (s === '..' || s.toLowerCase() === '%2e%2e') { out.pop(); if (i === segs.length - 1) out.push(''); }
      else if (s === '.' || s.toLowerCase() === '%2e') { if (i === segs.length - 1) out.push(''); }
      else out.push(s);
    }
    return '/' + out.join('/');
  }
  function fileURLToPath(u) {
    const url = typeof u === 'string' ? new URL(u) : u;
    if (url.protocol !== 'file:') throw nodeError(TypeError, 'ERR_INVALID_URL_SCHEME', 'The URL must be of scheme file');
    return decodeURIComponent(url.pathname);
  }
  function pathToFileURL(p) { const abs = path.resolve(p); return new URL('file://' + encodeURI(abs).replace(/[?#]/g, encodeURIComponent)); }
  const urlModule = {
    URL, URLSearchParams, fileURLToPath, pathToFileURL,
    parse(s, parseQuery) {
      const u = new URL(s, 'soulbox-relative:/');
      const rel = u.protocol === 'soulbox-relative:';
      const r = { protocol: rel ? null : u.protocol, slashes: rel ? null : true, auth: u.username ? decodeURIComponent(u.username) + (u.password ? ':' + decodeURIComponent(u.password) : '') : null,
        host: rel ? null : u.host, port: u.port || null, hostname: rel ? null : u.hostname, hash: u.hash || null, search: u.search || null,
        query: parseQuery ? querystring.parse(u.search.slice(1)) : (u.search.slice(1) || null), pathname: u.pathname, path: u.pathname + u.search, href: rel ? s : u.href };
      return r;
    },
    format(u) { return u instanceof URL ? u.href : typeof u === 'string' ? u : `${u.protocol || ''}${u.slashes || /^(https?|ftp|file):?$/.test(u.protocol || '') ? '//' : ''}${u.host || (u.hostname || '') + (u.port ? ':' + u.port : '')}${u.pathname || ''}${u.search || (u.query ? '?' + querystring.stringify(u.query) : '')}${u.hash || ''}`; },
    resolve(from, to) { return new URL(to, new URL(from, 'soulbox-resolve://x/')).href.replace('soulbox-resolve://x', ''); },
  };

  // ---------------------------------------------------------------- crypto
  const randomBytesRaw = (n) => new Uint8Array(natives.randomBytes(n));
  function getRandomValues(arr) {
    if (!ArrayBuffer.isView(arr)) throw new TypeError('The data argument must be an integer-type TypedArray');
    if (arr.byteLength > 65536) throw new DOMExceptionLike(`The ArrayBufferView's byte length (${arr.byteLength}) exceeds the number of bytes of entropy available via this API (65536)`, 'QuotaExceededError');
    new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength).set(randomBytesRaw(arr.byteLength));
    return arr;
  }
  function randomUUID() {
    const b = randomBytesRaw(16);
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
  const rotl = (x, n) => (x << n) | (x >>> (32 - n));
  const rotr = (x, n) => (x >>> n) | (x << (32 - n));
  const K256 = [0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2];
  const MD5_S = [7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21];
  const MD5_K = Array.from({ length: 64 }, (_, i) => Math.floor(Math.abs(Math.sin(i + 1)) * 4294967296) | 0);
  function pad(bytes, littleEndian) {
    const len = bytes.length;
    const total = ((len + 9 + 63) >> 6) << 6;
    const out = new Uint8Array(total);
    out.set(bytes); out[len] = 0x80;
    const dv = new DataView(out.buffer);
    const bits = len * 8;
    if (littleEndian) { dv.setUint32(total - 8, bits >>> 0, true); dv.setUint32(total - 4, Math.floor(bits / 4294967296), true); }
    else { dv.setUint32(total - 8, Math.floor(bits / 4294967296)); dv.setUint32(total - 4, bits >>> 0); }
    return out;
  }
  const digests = {
    sha256(bytes) {
      const m = pad(bytes, false), dv = new DataView(m.buffer), w = new Int32Array(64);
      const H = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
      for (let o = 0; o < m.length; o += 64) {
        for (let i = 0; i < 16; i++) w[i] = dv.getInt32(o + i * 4);
        for (let i = 16; i < 64; i++) {
          const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
          const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
          w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
        }
        let [a, b, c, d, e, f, g, h] = H;
        for (let i = 0; i < 64; i++) {
          const t1 = (h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i]) | 0;
          const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
          h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
        }
        H[0] = (H[0] + a) | 0; H[1] = (H[1] + b) | 0; H[2] = (H[2] + c) | 0; H[3] = (H[3] + d) | 0;
        H[4] = (H[4] + e) | 0; H[5] = (H[5] + f) | 0; H[6] = (H[6] + g) | 0; H[7] = (H[7] + h) | 0;
      }
      const out = new Uint8Array(32), ov = new DataView(out.buffer);
      H.forEach((x, i) => ov.setInt32(i * 4, x));
      return out;
    },
    sha1(bytes) {
      const m = pad(bytes, false), dv = new DataView(m.buffer), w = new Int32Array(80);
      const H = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0];
      for (let o = 0; o < m.length; o += 64) {
        for (let i = 0; i < 16; i++) w[i] = dv.getInt32(o + i * 4);
        for (let i = 16; i < 80; i++) w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
        let [a, b, c, d, e] = H;
        for (let i = 0; i < 80; i++) {
          const [f, k] = i < 20 ? [(b & c) | (~b & d), 0x5a827999] : i < 40 ? [b ^ c ^ d, 0x6ed9eba1]
            : i < 60 ? [(b & c) | (b & d) | (c & d), 0x8f1bbcdc] : [b ^ c ^ d, 0xca62c1d6];
          const t = (rotl(a, 5) + f + e + k + w[i]) | 0;
          e = d; d = c; c = rotl(b, 30); b = a; a = t;
        }
        H[0] = (H[0] + a) | 0; H[1] = (H[1] + b) | 0; H[2] = (H[2] + c) | 0; H[3] = (H[3] + d) | 0; H[4] = (H[4] + e) | 0;
      }
      const out = new Uint8Array(20), ov = new DataView(out.buffer);
      H.forEach((x, i) => ov.setInt32(i * 4, x));
      return out;
    },
    md5(bytes) {
      const m = pad(bytes, true), dv = new DataView(m.buffer);
      let a0 = 0x67452301, b0 = 0xefcdab89 | 0, c0 = 0x98badcfe | 0, d0 = 0x10325476;
      for (let o = 0; o < m.length; o += 64) {
        let a = a0, b = b0, c = c0, d = d0;
        for (let i = 0; i < 64; i++) {
          let f, g;
          if (i < 16) { f = (b & c) | (~b & d); g = i; } else if (i < 32) { f = (d & b) | (~d & c); g = (5 * i + 1) % 16; }
          else if (i < 48) { f = b ^ c ^ d; g = (3 * i + 5) % 16; } else { f = c ^ (b | ~d); g = (7 * i) % 16; }
          f = (f + a + MD5_K[i] + dv.getInt32(o + g * 4, true)) | 0;
          a = d; d = c; c = b; b = (b + rotl(f, MD5_S[i])) | 0;
        }
        a0 = (a0 + a) | 0; b0 = (b0 + b) | 0; c0 = (c0 + c) | 0; d0 = (d0 + d) | 0;
      }
      const out = new Uint8Array(16), ov = new DataView(out.buffer);
      [a0, b0, c0, d0].forEach((x, i) => ov.setInt32(i * 4, x, true));
      return out;
    },
  };
  const blockSize = { sha256: 64, sha1: 64, md5: 64 };
  const hashName = (n) => { const a = String(n).toLowerCase().replace('-', ''); if (!digests[a]) throw new Error(`Digest method not supported: ${n} (SoulBox has md5, sha1 and sha256)`); return a; };
  const toBytes = (data, enc) => typeof data === 'string' ? Buffer.from(data, enc || 'utf8') : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : data instanceof ArrayBuffer ? new Uint8Array(data) : (() => { throw nodeError(TypeError, 'ERR_INVALID_ARG_TYPE', `The "data" argument must be of type string or an instance of Buffer, TypedArray, or DataView. Received ${inspect(data)}`); })();
  const finish = (bytes, enc) => { const b = Buffer.from(bytes); return enc ? b.toString(enc) : b; };
  class Hash {
    constructor(alg, key) { this._alg = hashName(alg); this._parts = []; this._done = false; this._key = key; }
    update(data, enc) { if (this._done) throw nodeError(Error, 'ERR_CRYPTO_HASH_FINALIZED', 'Digest already called'); this._parts.push(Buffer.from(toBytes(data, enc))); return this; }
    digest(enc) {
      if (this._done) throw nodeError(Error, 'ERR_CRYPTO_HASH_FINALIZED', 'Digest already called');
      this._done = true;
      const msg = Buffer.concat(this._parts);
      const h = digests[this._alg];
      if (this._key === undefined) return finish(h(msg), enc);
      let key = Buffer.from(toBytes(this._key));
      const bs = blockSize[this._alg];
      if (key.length > bs) key = Buffer.from(h(key));
      const k = Buffer.alloc(bs); k.set(key);
      const inner = h(Buffer.concat([Buffer.from(k.map((x) => x ^ 0x36)), msg]));
      return finish(h(Buffer.concat([Buffer.from(k.map((x) => x ^ 0x5c)), Buffer.from(inner)])), enc);
    }
    copy() { const c = new Hash(this._alg, this._key); c._parts = this._parts.slice(); return c; }
  }
  const unavailable = (what) => () => { throw nodeError(Error, 'ERR_FEATURE_UNAVAILABLE_ON_PLATFORM', `${what} is not available in SoulBox`); };
  const cryptoModule = {
    randomUUID, getRandomValues,
    randomBytes(n, cb) { const b = Buffer.from(randomBytesRaw(n)); if (cb) { setImmediate(() => cb(null, b)); return undefined; } return b; },
    randomInt(min, max, cb) {
      if (max === undefined || typeof max === 'function') { cb = max; max = min; min = 0; }
      const range = max - min;
      if (!(range > 0) || range > 2 ** 48) throw nodeError(RangeError, 'ERR_OUT_OF_RANGE', `The value of "max" is out of range. It must be greater than the value of "min" (${min}). Received ${max}`);
      const b = randomBytesRaw(6); const n = b.reduce((acc, x) => acc * 256 + x, 0);
      const r = min + (n % range);
      if (cb) { setImmediate(() => cb(null, r)); return undefined; }
      return r;
    },
    createHash: (alg) => new Hash(alg),
    createHmac: (alg, key) => new Hash(alg, key),
    hash: (alg, data, enc = 'hex') => new Hash(alg).update(data).digest(enc),
    getHashes: () => ['md5', 'sha1', 'sha256'],
    timingSafeEqual: (a, b) => { if (a.length !== b.length) throw nodeError(RangeError, 'ERR_CRYPTO_TIMING_SAFE_EQUAL_LENGTH', 'Input buffers must have the same byte length'); let d = 0; for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i]; return d === 0; },
    createCipheriv: unavailable('crypto.createCipheriv'), createDecipheriv: unavailable('crypto.createDecipheriv'),
    createSign: unavailable('crypto.createSign'), generateKeyPairSync: unavailable('crypto.generateKeyPairSync'),
    pbkdf2Sync: unavailable('crypto.pbkdf2Sync'), scryptSync: unavailable('crypto.scryptSync'),
  };
  cryptoModule.webcrypto = { getRandomValues, randomUUID, subtle: undefined };

  // ---------------------------------------------------------------- string_decoder, timers
  class StringDecoder {
    constructor(enc = 'utf8') { this.encoding = normEnc(enc); this._rest = []; }
    write(buf) {
      if (typeof buf === 'string') return buf;
      let bytes = this._rest.concat(Array.from(buf));
      this._rest = [];
      if (this.encoding === 'utf8') {
        let cut = bytes.length;
        for (let i = Math.max(0, bytes.length - 3); i < bytes.length; i++) {
          const b = bytes[i];
          const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 0;
          if (need && i + need > bytes.length) { cut = i; break; }
        }
        this._rest = bytes.slice(cut); bytes = bytes.slice(0, cut);
      }
      return Buffer.from(bytes).toString(this.encoding);
    }
    end(buf) { const s = buf ? this.write(buf) : ''; const r = this._rest.length ? Buffer.from(this._rest).toString(this.encoding) : ''; this._rest = []; return s + r; }
  }
  // readline over stdin: all of stdin is read when the first line is wanted, then handed out
  // line by line ('line' events, question(), or `for await`), then 'close'.
  let stdinLines = null;
  const takeStdinLines = () => {
    if (stdinLines === null) {
      const text = std.in.readAsString();
      stdinLines = text === '' ? [] : text.replace(/\r?\n$/, '').split(/\r?\n/);
    }
    return stdinLines;
  };
  class Interface extends EventEmitter {
    constructor(opts = {}) {
      super();
      Object.defineProperty(this, '_closed', { value: false, writable: true });
      Object.defineProperty(this, '_started', { value: false, writable: true });
      this.terminal = false;
      this.output = opts.output;
    }
    _start() {
      if (this._started) return;
      this._started = true;
      setImmediate(() => {
        const lines = takeStdinLines();
        while (lines.length && !this._closed) this.emit('line', lines.shift());
        this.close();
      });
    }
    on(name, fn) { super.on(name, fn); if (name === 'line') this._start(); return this; }
    question(query, opts, cb) {
      if (typeof opts === 'function') cb = opts;
      if (query) std.out.puts(String(query));
      const line = takeStdinLines().shift();
      if (cb) setImmediate(() => cb(line === undefined ? '' : line));
      return undefined;
    }
    setPrompt(p) { this._prompt = p; }
    prompt() { if (this._prompt) std.out.puts(this._prompt); }
    write(s) { if (s !== undefined && s !== null) std.out.puts(String(s)); }
    pause() { return this; }
    resume() { return this; }
    close() { if (this._closed) return; this._closed = true; this.emit('close'); }
    async *[Symbol.asyncIterator]() {
      const lines = takeStdinLines();
      while (lines.length && !this._closed) yield lines.shift();
      this.close();
    }
  }
  const readlineModule = {
    createInterface: (input, output) => new Interface(input && input.input !== undefined ? input : { input, output }),
    Interface,
    clearLine: () => true, cursorTo: () => true, moveCursor: () => true, emitKeypressEvents: () => {},
  };
  const readlinePromises = {
    createInterface: (opts) => {
      const rl = readlineModule.createInterface(opts);
      const q = rl.question.bind(rl);
      rl.question = (query) => new Promise((resolve) => q(query, resolve));
      return rl;
    },
    Interface,
  };

  const timersModule = { setTimeout, setInterval, setImmediate, clearTimeout: clearTimer, clearInterval: clearTimer, clearImmediate };
  const timersPromises = {
    setTimeout: setTimeoutPromise,
    setImmediate: (v) => new Promise((r) => setImmediate(r, v)),
    async *setInterval(ms, v) { for (;;) { await setTimeoutPromise(ms); yield v; } },
    scheduler: { wait: (ms) => setTimeoutPromise(ms), yield: () => new Promise((r) => setImmediate(r)) },
  };

  // ---------------------------------------------------------------- the host channel: tools and fetch
  // One synchronous call (natives.hostCall, the import soulbox.call) carries a JSON request
  // frame to the host and brings its JSON reply back: {"ok":true,"value":V} or
  // {"ok":false,"kind":K,"error":MESSAGE}. The host enforces every cap (calls per execution,
  // payload size, handler timeout, the network allow-list); this side only shapes the API.
  const hostStatusText = {
    [-1]: 'this sandbox has no host channel: tools and network are not available here',
    [-2]: 'the host channel failed: an address outside the guest memory',
    [-3]: 'the host channel failed: no memory left for the reply (the sandbox memory limit)',
  };
  // A failed host call: `kind` is the protocol's (unknown_tool, invalid_arguments, handler,
  // timeout, limit, payload, protocol, denied, network).
  class ToolError extends Error {
    constructor(kind, message) {
      super(message);
      Object.defineProperty(this, 'kind', { value: kind, enumerable: true, writable: true, configurable: true });
    }
  }
  define(ToolError.prototype, 'name', 'ToolError');
  function hostRequest(request) {
    const reply = natives.hostCall(JSON.stringify(request));
    if (typeof reply === 'number') {
      throw new ToolError(reply === -1 ? 'denied' : 'protocol', hostStatusText[reply] || `the host channel failed (status ${reply})`);
    }
    let parsed;
    try { parsed = JSON.parse(reply); } catch (e) { throw new ToolError('protocol', `the host's reply is not JSON: ${e.message}`); }
    if (parsed !== null && typeof parsed === 'object' && parsed.ok === true) return parsed.value;
    const kind = parsed && typeof parsed.kind === 'string' ? parsed.kind : 'protocol';
    throw new ToolError(kind, parsed && typeof parsed.error === 'string' ? parsed.error : 'the host refused the request');
  }
  // callTool(name, args): the tool's JSON value, or a ToolError.
  function callTool(name, args) {
    if (typeof name !== 'string') {
      throw nodeError(TypeError, 'ERR_INVALID_ARG_TYPE', `The "name" argument must be of type string. Received ${inspect(name)}`);
    }
    return hostRequest({ op: 'call', name, arguments: args === undefined ? {} : args });
  }
  const listTools = () => hostRequest({ op: 'list' });
  // soulbox.tools.<name>(args) is callTool('<name>', args).
  const toolsProxy = new Proxy(Object.create(null), {
    get(target, key) {
      if (typeof key !== 'string' || key === 'then') return undefined;
      return (args) => callTool(key, args);
    },
    set() { return false; },
    defineProperty() { return false; },
    deleteProperty() { return false; },
  });
  const soulboxModule = Object.freeze({ callTool, listTools, tools: toolsProxy, ToolError });

  // fetch over the host: the host makes the request (only to allow-listed hosts) and answers
  // with the whole response.
  const headerNameRe = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
  const headerName = (name) => {
    const n = String(name);
    if (!headerNameRe.test(n)) throw new TypeError(`Headers: "${n}" is an invalid header name.`);
    return n.toLowerCase();
  };
  const headerValue = (value) => {
    const v = String(value).replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, '');
    if (/[\0\r\n]/.test(v)) throw new TypeError(`Headers: ${inspect(v)} is an invalid header value.`);
    return v;
  };
  class Headers {
    #map = new Map();
    constructor(init) {
      if (init === undefined || init === null) return;
      if (init instanceof Headers) { init.forEach((v, k) => this.append(k, v)); return; }
      if (typeof init !== 'object' && typeof init !== 'function') throw new TypeError('Headers: the init must be an object, an array of pairs or a Headers');
      if (typeof init[Symbol.iterator] === 'function') {
        for (const pair of init) {
          const p = Array.from(pair);
          if (p.length !== 2) throw new TypeError(`Headers: a header pair must have 2 items, found ${p.length}.`);
          this.append(p[0], p[1]);
        }
        return;
      }
      for (const k of Object.keys(init)) this.append(k, init[k]);
    }
    append(name, value) {
      const n = headerName(name), v = headerValue(value);
      const list = this.#map.get(n);
      if (list) list.push(v); else this.#map.set(n, [v]);
    }
    set(name, value) { this.#map.set(headerName(name), [headerValue(value)]); }
    get(name) { const list = this.#map.get(headerName(name)); return list ? list.join(', ') : null; }
    has(name) { return this.#map.has(headerName(name)); }
    delete(name) { this.#map.delete(headerName(name)); }
    getSetCookie() { return (this.#map.get('set-cookie') || []).slice(); }
    *entries() {
      for (const k of [...this.#map.keys()].sort()) {
        if (k === 'set-cookie') for (const v of this.#map.get(k)) yield [k, v];
        else yield [k, this.#map.get(k).join(', ')];
      }
    }
    *keys() { for (const [k] of this.entries()) yield k; }
    *values() { for (const [, v] of this.entries()) yield v; }
    [Symbol.iterator]() { return this.entries(); }
    forEach(fn, thisArg) { for (const [k, v] of this.entries()) fn.call(thisArg, v, k, this); }
    get [Symbol.toStringTag]() { return 'Headers'; }
    [customInspect]() { return `Headers ${inspect(Object.fromEntries(this.entries()))}`; }
  }
  // A body as bytes (and the content type it implies, when the headers have none).
  function bodyBytes(body, headers) {
    if (body === undefined || body === null) return null;
    const type = (t) => { if (!headers.has('content-type')) headers.set('content-type', t); };
    if (body instanceof ArrayBuffer) return new Uint8Array(body.slice(0));
    if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
    if (body instanceof URLSearchParams) { type('application/x-www-form-urlencoded;charset=UTF-8'); return utf8Encode(body.toString()); }
    type('text/plain;charset=UTF-8');
    return utf8Encode(String(body));
  }
  let responseFromHost;
  class Response {
    #body; #used = false; #status; #statusText; #headers; #url = ''; #redirected = false; #type = 'default';
    constructor(body = null, init = {}) {
      init = init ?? {};
      const status = init.status === undefined ? 200 : Number(init.status);
      if (!Number.isInteger(status) || status < 200 || status > 599) {
        throw new RangeError(`Response: the status provided (${init.status}) is outside the range [200, 599].`);
      }
      this.#status = status;
      this.#statusText = init.statusText === undefined ? '' : String(init.statusText);
      this.#headers = new Headers(init.headers);
      this.#body = bodyBytes(body, this.#headers) || new Uint8Array(0);
    }
    static {
      // Fields set past the constructor's checks (a host response may have any status).
      responseFromHost = (r, request) => {
        const out = new Response();
        out.#body = new Uint8Array(r.body ? base64Decode(r.body) : []);
        out.#used = false;
        out.#status = r.status | 0;
        out.#statusText = String(r.reason ?? '');
        out.#headers = new Headers(Array.isArray(r.headers) ? r.headers : []);
        out.#url = String(r.url ?? request);
        out.#redirected = out.#url !== request;
        out.#type = 'basic';
        return out;
      };
    }
    static json(data, init = {}) {
      const headers = new Headers(init && init.headers);
      if (!headers.has('content-type')) headers.set('content-type', 'application/json');
      return new Response(JSON.stringify(data), { ...init, headers });
    }
    get status() { return this.#status; }
    get statusText() { return this.#statusText; }
    get ok() { return this.#status >= 200 && this.#status <= 299; }
    get headers() { return this.#headers; }
    get url() { return this.#url; }
    get redirected() { return this.#redirected; }
    get type() { return this.#type; }
    get bodyUsed() { return this.#used; }
    #take() {
      if (this.#used) throw new TypeError('Body is unusable: Body has already been read');
      this.#used = true;
      return this.#body;
    }
    async arrayBuffer() { const b = this.#take(); return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength); }
    async bytes() { return new Uint8Array(await this.arrayBuffer()); }
    async text() { return new TextDecoder().decode(this.#take()); }
    async json() { return JSON.parse(await this.text()); }
    clone() {
      if (this.#used) throw new TypeError('Response.clone: Body has already been consumed.');
      const out = new Response();
      out.#body = this.#body.slice(); out.#used = false; out.#status = this.#status; out.#statusText = this.#statusText;
      out.#headers = new Headers(this.#headers); out.#url = this.#url; out.#redirected = this.#redirected; out.#type = this.#type;
      return out;
    }
    get [Symbol.toStringTag]() { return 'Response'; }
    [customInspect]() {
      return `Response ${inspect({ status: this.#status, statusText: this.#statusText, headers: this.#headers, body: this.#used ? 'used' : `${this.#body.length} bytes`, bodyUsed: this.#used, ok: this.ok, redirected: this.#redirected, type: this.#type, url: this.#url })}`;
    }
  }
  const methodRe = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
  // fetch(input, {method, headers, body}): a Response, or a TypeError('fetch failed') whose
  // cause is the host's ToolError (kind `denied` for a host outside the allow-list).
  async function fetch(input, init) {
    init = init ?? {};
    const request = input !== null && typeof input === 'object' && !(input instanceof URL) ? input : {};
    const href = input instanceof URL ? input.href : typeof request.url === 'string' ? request.url : String(input);
    let url;
    try { url = new URL(href); } catch (e) {
      const err = new TypeError(`Failed to parse URL from ${href}`);
      err.cause = e;
      throw err;
    }
    if (init.signal && init.signal.aborted) throw new DOMExceptionLike('This operation was aborted', 'AbortError');
    const method = String(init.method ?? request.method ?? 'GET');
    if (!methodRe.test(method)) throw new TypeError(`'${method}' is not a valid HTTP method.`);
    const upper = method.toUpperCase();
    const normal = ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'PATCH'].includes(upper) ? upper : method;
    const headers = new Headers(init.headers ?? request.headers);
    const bodyInit = init.body !== undefined ? init.body : request.body;
    if (bodyInit !== undefined && bodyInit !== null && (normal === 'GET' || normal === 'HEAD')) {
      throw new TypeError('Request with GET/HEAD method cannot have body.');
    }
    const body = bodyBytes(bodyInit, headers);
    let reply;
    try {
      reply = hostRequest({ op: 'http', method: normal, url: url.href, headers: [...headers], body: body ? base64Encode(body) : null });
    } catch (e) {
      if (!(e instanceof ToolError)) throw e;
      const err = new TypeError('fetch failed');
      err.cause = e;
      throw err;
    }
    return responseFromHost(reply, url.href);
  }

  // ---------------------------------------------------------------- the unavailable
  const missing = (name, why) => new Proxy({}, {
    get(t, k) {
      if (k === Symbol.toPrimitive || k === 'then' || k === customInspect) return undefined;
      throw nodeError(Error, 'ERR_SOULBOX_UNAVAILABLE', `the Node module '${name}' is not available in SoulBox (${why}); property ${String(k)}`);
    },
  });

  // ---------------------------------------------------------------- modules
  // No descriptor is a terminal in a sandbox; packages such as `debug` and `supports-color` only
  // ask `isatty`.
  const noTerminal = () => { throw nodeError(Error, 'ERR_SOULBOX_UNAVAILABLE', 'no terminal in SoulBox: tty streams cannot be made'); };
  const ttyModule = { isatty: () => false, ReadStream: noTerminal, WriteStream: noTerminal };
  const builtins = {
    assert, 'assert/strict': assert.strict, buffer: { Buffer, constants: { MAX_LENGTH: 2 ** 32 }, kMaxLength: 2 ** 32, atob: G.atob, btoa: G.btoa },
    console, crypto: cryptoModule, events: EventEmitter, fs, 'fs/promises': fsPromises, os: osModule, path,
    readline: readlineModule, 'readline/promises': readlinePromises,
    'path/posix': path, process, querystring, string_decoder: { StringDecoder }, timers: timersModule,
    'timers/promises': timersPromises, tty: ttyModule, url: urlModule, util, 'util/types': types,
    soulbox: soulboxModule,
  };
  const unavailableModules = {
    child_process: 'no processes can be started', http: 'no network access', https: 'no network access',
    http2: 'no network access', net: 'no network access', dgram: 'no network access', dns: 'no network access',
    tls: 'no network access', cluster: 'no processes can be started', worker_threads: 'no threads',
    vm: 'not implemented', zlib: 'not implemented yet', stream: 'not implemented yet',
    'stream/promises': 'not implemented yet', v8: 'not a V8 engine', inspector: 'no inspector', perf_hooks: 'use the global performance',
    async_hooks: 'not implemented', module: 'not implemented', repl: 'not implemented',
  };
  const builtinName = (spec) => {
    const name = spec.startsWith('node:') ? spec.slice(5) : spec;
    // `soulbox` is SoulBox's own module, not one of Node's.
    if (spec === 'node:soulbox') return null;
    if (Object.prototype.hasOwnProperty.call(builtins, name) || Object.prototype.hasOwnProperty.call(unavailableModules, name)) return name;
    return null;
  };
  // readFileSync(0) reads stdin.
  const origRead = fsSync.readFileSync;
  fsSync.readFileSync = fs.readFileSync = function (p, opts) {
    if (p === 0 || p === '/dev/stdin') { const s = std.in.readAsString(); const enc = encOf(opts); return enc ? s : Buffer.from(s); }
    return origRead(p, opts);
  };

  const isFile = (p) => { const [st, e] = os.stat(p); return !e && (st.mode & S_IFMT) === os.S_IFREG; };
  const isDir = (p) => { const [st, e] = os.stat(p); return !e && (st.mode & S_IFMT) === os.S_IFDIR; };
  const readJson = (p) => { const text = std.loadFile(p); if (text === null) return null; try { return JSON.parse(text); } catch (e) { throw new SyntaxError(`${p}: ${e.message}`); } };
  const packageJsonCache = new Map();
  function packageJson(dir) {
    if (packageJsonCache.has(dir)) return packageJsonCache.get(dir);
    const p = `${dir}/package.json`;
    const pj = isFile(p) ? readJson(p) : null;
    packageJsonCache.set(dir, pj);
    return pj;
  }
  // The package.json that governs `file` (the nearest one above it), for `type`.
  function packageScope(file) {
    let dir = path.dirname(file);
    for (;;) {
      const pj = packageJson(dir);
      if (pj) return pj;
      if (dir === '/' || path.basename(dir) === 'node_modules') return null;
      dir = path.dirname(dir);
    }
  }
  function formatOf(file) {
    if (file.endsWith('.mjs')) return 'esm';
    if (file.endsWith('.cjs')) return 'cjs';
    if (file.endsWith('.json')) return 'json';
    const scope = packageScope(file);
    return scope && scope.type === 'module' ? 'esm' : 'cjs';
  }
  const tryFile = (p) => (isFile(p) ? p : null);
  function tryExtensions(p) {
    return tryFile(p) || tryFile(`${p}.js`) || tryFile(`${p}.json`) || tryFile(`${p}.mjs`) || tryFile(`${p}.cjs`);
  }
  function tryDirectory(dir, mode) {
    const pj = packageJson(dir);
    if (pj) {
      // `main` first (what Node uses); `module` (what bundlers use) when there is no `main`.
      const main = pj.main;
      if (typeof main === 'string') {
        const m = path.resolve(dir, main);
        const f = tryExtensions(m) || (isDir(m) && (tryFile(`${m}/index.js`) || tryFile(`${m}/index.json`)));
        if (f) return f;
      }
      if (typeof pj.module === 'string') {
        const f = tryExtensions(path.resolve(dir, pj.module));
        if (f) return f;
      }
    }
    return tryFile(`${dir}/index.js`) || tryFile(`${dir}/index.json`) || tryFile(`${dir}/index.mjs`) || tryFile(`${dir}/index.cjs`);
  }
  function resolvePath(p, mode) {
    return tryExtensions(p) || (isDir(p) ? tryDirectory(p, mode) : null);
  }
  function exportsTarget(target, mode, sub) {
    if (typeof target === 'string') return sub === undefined ? target : target.replace(/\*/g, sub);
    if (Array.isArray(target)) { for (const t of target) { const r = exportsTarget(t, mode, sub); if (r) return r; } return null; }
    if (target && typeof target === 'object') {
      for (const key of Object.keys(target)) {
        if (key === 'default' || key === mode || key === 'node') {
          const r = exportsTarget(target[key], mode, sub);
          if (r) return r;
        }
      }
    }
    return null;
  }
  function resolveExports(dir, pj, subpath, mode, spec) {
    let exp = pj.exports;
    const isConditions = exp && typeof exp === 'object' && !Array.isArray(exp) && Object.keys(exp).every((k) => k[0] !== '.');
    if (typeof exp === 'string' || Array.isArray(exp) || isConditions) exp = { '.': exp };
    let target = null;
    if (Object.prototype.hasOwnProperty.call(exp, subpath)) target = exportsTarget(exp[subpath], mode);
    else {
      for (const key of Object.keys(exp)) {
        const star = key.indexOf('*');
        if (star < 0) continue;
        const pre = key.slice(0, star), post = key.slice(star + 1);
        if (subpath.startsWith(pre) && subpath.endsWith(post) && subpath.length >= key.length - 1) {
          target = exportsTarget(exp[key], mode, subpath.slice(pre.length, subpath.length - post.length));
          if (target) break;
        }
      }
    }
    if (!target) {
      throw nodeError(Error, 'ERR_PACKAGE_PATH_NOT_EXPORTED', subpath === '.' ? `No "exports" main defined in ${dir}/package.json` : `Package subpath '${subpath}' is not defined by "exports" in ${dir}/package.json`);
    }
    const file = path.resolve(dir, target);
    if (!isFile(file)) throw nodeError(Error, mode === 'import' ? 'ERR_MODULE_NOT_FOUND' : 'MODULE_NOT_FOUND', `Cannot find module '${file}' (from the "exports" of ${spec})`);
    return file;
  }
  function nodePathDirs() {
    return (processEnv.NODE_PATH || '').split(':').filter((d) => d !== '').map((d) => path.resolve(d));
  }
  // Resolves `spec` imported from the directory `base`: 'node:<name>' for a built-in, else an
  // absolute file path. `mode` is 'require' or 'import' (the exports condition).
  function resolve(spec, base, mode) {
    const b = builtinName(spec);
    if (b !== null) return `node:${b}`;
    if (spec.startsWith('node:')) throw nodeError(Error, 'ERR_UNKNOWN_BUILTIN_MODULE', `No such built-in module: ${spec}`);
    if (spec.startsWith('file://')) spec = fileURLToPath(spec);
    const notFound = () => {
      const e = nodeError(Error, mode === 'import' ? 'ERR_MODULE_NOT_FOUND' : 'MODULE_NOT_FOUND', `Cannot find ${spec.startsWith('.') || spec.startsWith('/') ? 'module' : 'package'} '${spec}' imported from ${base}`);
      if (mode !== 'import') e.message = `Cannot find module '${spec}'\nRequire stack:\n- ${base}`;
      return e;
    };
    if (spec.startsWith('./') || spec.startsWith('../') || spec.startsWith('/') || spec === '.' || spec === '..') {
      const p = path.resolve(base, spec);
      const r = resolvePath(p, mode);
      if (!r) throw notFound();
      return r;
    }
    const m = /^((?:@[^/]+\/)?[^/]+)(\/.*)?$/.exec(spec);
    if (!m) throw notFound();
    const [, name, rest] = m;
    const dirs = [];
    for (let dir = base; ; dir = path.dirname(dir)) {
      if (path.basename(dir) !== 'node_modules') dirs.push(`${dir}/node_modules`);
      if (dir === '/') break;
    }
    dirs.push(...nodePathDirs());
    for (const d of dirs) {
      const pkgDir = `${d}/${name}`;
      if (!isDir(pkgDir)) continue;
      const pj = packageJson(pkgDir);
      if (pj && pj.exports !== undefined && pj.exports !== null) return resolveExports(pkgDir, pj, rest ? `.${rest}` : '.', mode, spec);
      const r = rest ? resolvePath(pkgDir + rest, mode) : resolvePath(pkgDir, mode);
      if (r) return r;
    }
    throw notFound();
  }

  // CommonJS
  const moduleCache = Object.create(null);
  class Module {
    constructor(id, parent) { this.id = id; this.filename = id; this.path = path.dirname(id); this.exports = {}; this.loaded = false; this.children = []; this.paths = []; this.parent = parent || null; }
  }
  function makeRequire(dir, parent) {
    const require = (spec) => {
      if (typeof spec !== 'string') throw nodeError(TypeError, 'ERR_INVALID_ARG_TYPE', `The "id" argument must be of type string. Received ${inspect(spec)}`);
      const id = resolve(spec, dir, 'require');
      return loadCommonJs(id, parent);
    };
    require.resolve = (spec) => { const id = resolve(spec, dir, 'require'); return id.startsWith('node:') && !spec.startsWith('node:') ? id.slice(5) : id; };
    require.resolve.paths = () => [];
    require.cache = moduleCache;
    require.main = mainModule;
    return require;
  }
  function builtin(name) {
    if (Object.prototype.hasOwnProperty.call(builtins, name)) return builtins[name];
    throw nodeError(Error, 'ERR_SOULBOX_UNAVAILABLE', `the Node module '${name}' is not available in SoulBox: ${unavailableModules[name]}`);
  }
  function loadCommonJs(id, parent) {
    if (id.startsWith('node:')) return builtin(id.slice(5));
    const cached = moduleCache[id];
    if (cached) return cached.exports;
    const format = formatOf(id);
    if (format === 'esm') {
      throw nodeError(Error, 'ERR_REQUIRE_ESM', `require() of ES Module ${id} is not supported in SoulBox; use import (or await import('${id}')) instead`);
    }
    const module = new Module(id, parent);
    moduleCache[id] = module;
    if (parent) parent.children.push(module);
    try {
      const text = std.loadFile(id);
      if (text === null) throw nodeError(Error, 'MODULE_NOT_FOUND', `Cannot find module '${id}'`);
      if (format === 'json') {
        try { module.exports = JSON.parse(text); } catch (e) { e.message = `${id}: ${e.message}`; throw e; }
      } else {
        const body = text.startsWith('#!') ? '//' + text : text;
        const fn = natives.evalScript(`(function (exports, require, module, __filename, __dirname) {${body}\n})`, id);
        fn.call(module.exports, module.exports, makeRequire(path.dirname(id), module), module, id, path.dirname(id));
      }
      module.loaded = true;
    } catch (e) {
      delete moduleCache[id];
      throw e;
    }
    return module.exports;
  }
  // For the glue's ES module loader: what an import of `id` (from resolve) provides.
  // Returns [kind, value]: 'esm' (the glue loads the file itself) or 'value' (exports of a
  // built-in, JSON or CommonJS module: default plus the own enumerable keys).
  function loadFor(id) {
    if (id.startsWith('node:')) return ['value', builtin(id.slice(5))];
    if (id.startsWith('qjs:')) return ['esm', id];
    const f = formatOf(id);
    if (f === 'esm') return ['esm', id];
    return ['value', loadCommonJs(id, null)];
  }
  function resolveImport(base, spec) {
    if (spec === 'qjs:std' || spec === 'qjs:os' || spec === 'qjs:bjson') return spec;
    if (spec === 'std') return 'qjs:std';
    const dir = base.startsWith('/') ? path.dirname(base) : process.cwd();
    return resolve(spec, dir, 'import');
  }

  // ---------------------------------------------------------------- globals
  let mainModule = null;
  const globals = {
    console, process, Buffer, setTimeout, setInterval, setImmediate, clearTimeout: clearTimer,
    clearInterval: clearTimer, clearImmediate, TextEncoder, TextDecoder, URL, URLSearchParams,
    structuredClone, fetch, Headers, Response, global: G, DOMException: DOMExceptionLike,
    soulbox: soulboxModule,
  };
  for (const [k, v] of Object.entries(globals)) define(G, k, v);
  if (typeof G.crypto === 'undefined') define(G, 'crypto', cryptoModule.webcrypto);
  if (typeof G.navigator === 'undefined') define(G, 'navigator', { hardwareConcurrency: 1, language: 'en-US', platform: 'linux', userAgent: 'Node.js/20 (SoulBox)' });

  function setMain(filename) {
    mainModule = new Module(filename, null);
    const dir = process.cwd();
    define(G, 'require', makeRequire(dir, mainModule));
    define(G, 'module', mainModule);
    define(G, 'exports', mainModule.exports);
    define(G, '__filename', filename);
    define(G, '__dirname', '.');
  }

  // ---------------------------------------------------------------- hooks for the glue
  const rejections = [];
  function checkRejections() {
    for (const reason of natives.takeRejections()) rejections.push(reason);
  }
  // Node's text of an uncaught exception (without its source excerpt).
  function report(e, rejection) {
    if (e instanceof Error || (e && typeof e === 'object' && typeof e.stack === 'string')) {
      return inspect(e);
    }
    if (rejection) {
      return `[UnhandledPromiseRejection: This error originated either by throwing inside of an async function without a catch block, or by rejecting a promise which was not handled with .catch(). The promise rejected with the reason "${inspect(e)}".] {\n  code: 'ERR_UNHANDLED_REJECTION'\n}`;
    }
    return `Uncaught ${inspect(e)}`;
  }
  // Runs the event loop until nothing is pending. Returns the exit status the run should have
  // (process.exitCode), or throws the uncaught error. The glue sleeps between turns.
  function takeUnhandled() {
    checkRejections();
    if (rejections.length) { const r = rejections.shift(); rejections.length = 0; return r; }
    return undefined;
  }
  // An uncaught error or unhandled rejection goes to the program's own listeners when it has
  // some (then the program goes on, as in Node); false: nobody listens.
  function handleUncaught(err, rejection) {
    const ev = rejection ? 'unhandledRejection' : 'uncaughtException';
    if (process.listenerCount(ev) === 0) return false;
    if (rejection) process.emit(ev, err, undefined);
    else process.emit(ev, err, 'uncaughtException');
    return true;
  }
  function configure(json) {
    const cfg = JSON.parse(json);
    // The program starts in the workspace, as `node` starts in its working directory (a WASI
    // program starts at `/`).
    if (os.getcwd()[0] === '/' && isDir('/work')) os.chdir('/work');
    for (const k of Object.keys(processEnv)) delete processEnv[k];
    Object.assign(processEnv, cfg.env || {});
    process.argv = ['/usr/local/bin/node', '[eval]'].concat(cfg.args || []);
    G.scriptArgs = (cfg.args || []).slice();
    setMain('[eval]');
    return { session: !!cfg.session };
  }
  // Whether a program is an ES module: it has a top-level-looking import or export statement
  // (a line that starts with one; dynamic import() and import.meta do not count).
  const moduleRe = /^[ \t]*(?:import[ \t]*(?:[\w$*{]|["'])|export[ \t]+(?:default|const|let|var|function|class|async|\{|\*))/m;
  const isModule = (src) => moduleRe.test(src);
  return {
    configure, isModule, loop, drain, handleUncaught, resetLoop, report, inspect, resolveImport, loadFor, takeUnhandled,
    exitCode: () => Number(process.exitCode ?? 0) | 0,
    emitExit: (c) => { if (!exitState.exiting) { exitState.exiting = true; process.emit('exit', c); } },
    rearmExit: () => { exitState.exiting = false; exitState.code = undefined; },
  };
})
