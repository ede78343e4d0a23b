// The JavaScript half of jsbridge: one expression, evaluating to the helper
// object. jsbridge evaluates it once with `new Function("return " + src)`
// unless the page already defined globalThis.__stagekitJSBridge to it (pages
// whose Content-Security-Policy forbids 'unsafe-eval'). Keep it dependency-
// free and side-effect-free.
(() => {
	"use strict";

	// box/wrap let a Go function throw into its synchronous JS caller:
	// syscall/js cannot throw, so Go returns box(error) and wrap's function
	// throws it.
	class Thrown {
		constructor(e) {
			this.e = e;
		}
	}
	const box = (e) => new Thrown(e);
	const wrap = (fn) =>
		function (...args) {
			const r = fn.apply(this, args);
			if (r instanceof Thrown) throw r.e;
			return r;
		};

	// The event emitter. Listeners are plain functions in a Map (event name
	// -> array of entries {fn, once, fired}) kept in a non-enumerable
	// property; nothing here calls into Go, so adding and removing listeners
	// costs no Go function and no crossing. Go calls emit().
	const STORE = "__stagekitListeners";
	const WILDCARD = "*";

	const badArgs = (message) => {
		const e = new Error("[ERR4005] " + message);
		e.name = "ClientError";
		e.code = "4005";
		return e;
	};
	const storeOf = (em) => {
		const s = em !== null && em !== undefined ? em[STORE] : undefined;
		if (!(s instanceof Map)) throw badArgs("not an event emitter");
		return s;
	};
	const checkEvent = (event) => {
		if (typeof event !== "string") throw badArgs("the event name must be a string");
	};
	const checkListener = (fn) => {
		if (typeof fn !== "function") throw badArgs("the listener must be a function");
	};

	const removeEntry = (store, event, entry) => {
		const list = store.get(event);
		if (list === undefined) return false;
		const i = list.indexOf(entry);
		if (i < 0) return false;
		list.splice(i, 1);
		if (list.length === 0) store.delete(event);
		return true;
	};
	const add = (em, event, fn, once) => {
		const store = storeOf(em);
		checkEvent(event);
		checkListener(fn);
		let list = store.get(event);
		if (list === undefined) {
			list = [];
			store.set(event, list);
		}
		const entry = { fn, once, fired: false };
		list.push(entry);
		return () => removeEntry(store, event, entry);
	};

	const methods = {
		on(event, fn) {
			return add(this, event, fn, false);
		},
		once(event, fn) {
			return add(this, event, fn, true);
		},
		off(event, fn) {
			const store = storeOf(this);
			checkEvent(event);
			checkListener(fn);
			const list = store.get(event);
			if (list !== undefined) {
				for (let i = list.length - 1; i >= 0; i--) {
					if (list[i].fn === fn) {
						list.splice(i, 1);
						break;
					}
				}
				if (list.length === 0) store.delete(event);
			}
			return this;
		},
		removeAllListeners(event) {
			const store = storeOf(this);
			if (event === undefined || event === null) {
				store.clear();
			} else {
				checkEvent(event);
				store.delete(event);
			}
			return this;
		},
		listenerCount(event) {
			const store = storeOf(this);
			checkEvent(event);
			const list = store.get(event);
			return list === undefined ? 0 : list.length;
		},
	};
	const aliases = { addListener: "on", removeListener: "off" };

	const define = (obj, name, value) =>
		Object.defineProperty(obj, name, { value, writable: true, enumerable: false, configurable: true });

	// makeEmitter gives obj an empty store and the methods, bound to obj so
	// that they also work detached (const { on } = meeting.stage).
	const makeEmitter = (obj) => {
		define(obj, STORE, new Map());
		for (const [name, fn] of Object.entries(methods)) define(obj, name, fn.bind(obj));
		for (const [alias, name] of Object.entries(aliases)) define(obj, alias, obj[name]);
		return obj;
	};

	// run calls a snapshot of the listeners stored under key: listeners
	// added or removed meanwhile take effect from the next emission; a once
	// listener is removed before its call and runs once even if a listener
	// emits again. A listener that throws is reported; the rest still run.
	const run = (em, store, key, event, args) => {
		const list = store.get(key);
		if (list === undefined) return;
		for (const entry of list.slice()) {
			if (entry.once) {
				if (entry.fired) continue;
				entry.fired = true;
				removeEntry(store, key, entry);
			}
			try {
				entry.fn.apply(em, args);
			} catch (e) {
				console.error("stagekit: a listener of '" + event + "' threw:", e);
			}
		}
	};
	// emit calls event's listeners with args, then the wildcard's with
	// (event, ...args).
	const emit = (em, event, ...args) => {
		const store = storeOf(em);
		run(em, store, event, event, args);
		if (event !== WILDCARD) run(em, store, WILDCARD, event, [event, ...args]);
	};
	const listenerCount = (em, event) => {
		const list = storeOf(em).get(event);
		return list === undefined ? 0 : list.length;
	};

	return { box, wrap, makeEmitter, emit, listenerCount, version: 1 };
})()
