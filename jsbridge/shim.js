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

	// ClientError is every SDK error, with RealtimeKit's constructor
	// (message, code) and message form "[ERR<code>]: message". code is a
	// string. The loader exports this class, so `instanceof ClientError`
	// holds for the errors Go makes.
	class ClientError extends Error {
		constructor(message, code) {
			const c = code === undefined || code === null ? "" : String(code);
			const prefix = "[ERR" + c + "]";
			let m = message === undefined || message === null ? "" : String(message);
			if (!m.startsWith(prefix)) m = m === "" ? prefix : prefix + ": " + m;
			super(m);
			this.name = "ClientError";
			this.code = c;
		}
	}

	// The event emitter, with RealtimeKit's (Node's) methods. Listeners are
	// plain functions in a Map (event name -> array of entries {fn, once,
	// fired}) kept in a non-enumerable property; nothing here calls into Go,
	// so adding and removing listeners costs no Go function and no crossing.
	const STORE = "__stagekitListeners";
	const WILDCARD = "*";

	const badArgs = (message) => new ClientError(message, "4005");
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
	const add = (em, event, fn, once, prepend) => {
		const store = storeOf(em);
		checkEvent(event);
		checkListener(fn);
		let list = store.get(event);
		if (list === undefined) {
			list = [];
			store.set(event, list);
		}
		const entry = { fn, once, fired: false };
		if (prepend) list.unshift(entry);
		else list.push(entry);
		return em;
	};

	const methods = {
		on(event, fn) {
			return add(this, event, fn, false, false);
		},
		once(event, fn) {
			return add(this, event, fn, true, false);
		},
		prependListener(event, fn) {
			return add(this, event, fn, false, true);
		},
		prependOnceListener(event, fn) {
			return add(this, event, fn, true, true);
		},
		// off removes fn's latest registration for event.
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
		// emit calls the listeners as the SDK's own events do; it returns
		// whether any listener (the wildcard's included) was called.
		emit(event, ...args) {
			checkEvent(event);
			return emit(this, event, ...args);
		},
		listeners(event) {
			const store = storeOf(this);
			checkEvent(event);
			const list = store.get(event);
			return list === undefined ? [] : list.map((e) => e.fn);
		},
		rawListeners(event) {
			return this.listeners(event);
		},
		listenerCount(event) {
			const store = storeOf(this);
			checkEvent(event);
			const list = store.get(event);
			return list === undefined ? 0 : list.length;
		},
		eventNames() {
			return [...storeOf(this).keys()];
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

	// ParticipantMap is RealtimeKit's participant map: a Map (peer id ->
	// participant) with toArray() that is also an emitter.
	class ParticipantMap extends Map {
		toArray() {
			return [...this.values()];
		}
	}
	const makeParticipantMap = () => makeEmitter(new ParticipantMap());

	// run calls a snapshot of the listeners stored under key: listeners
	// added or removed meanwhile take effect from the next emission; a once
	// listener is removed before its call and runs once even if a listener
	// emits again. A listener that throws is reported; the rest still run.
	const run = (em, store, key, event, args) => {
		const list = store.get(key);
		if (list === undefined) return false;
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
		return true;
	};
	// emit calls the wildcard's listeners with (event, ...args) first, as
	// RealtimeKit does, then event's listeners with args.
	const emit = (em, event, ...args) => {
		const store = storeOf(em);
		const any = event !== WILDCARD && run(em, store, WILDCARD, event, [event, ...args]);
		return run(em, store, event, event, args) || any;
	};
	const listenerCount = (em, event) => {
		const list = storeOf(em).get(event);
		return list === undefined ? 0 : list.length;
	};

	return { box, wrap, makeEmitter, makeParticipantMap, ParticipantMap, emit, listenerCount, ClientError, version: 2 };
})()
