/**
 * IndexedDB for everything the client must remember, as idb-keyval stores whose writes use strict
 * durability: a write's transaction completes only once the browser has asked the OS to flush it to
 * disk (https://developer.mozilla.org/en-US/docs/Web/API/IDBTransaction/durability). Chromium
 * (from 121), Firefox and Safari default to "relaxed": complete once the write is in the OS's
 * buffer, "typically flushed every couple seconds", which a power loss or an OS crash can take
 * (https://developer.chrome.com/blog/indexeddb-durability-mode-now-defaults-to-relaxed).
 */

import { promisifyRequest, type UseStore } from "idb-keyval";

/** An idb-keyval store (`get`, `set`, `entries`, … take it) in database `dbName`, store `storeName`. */
export function createDurableStore(dbName: string, storeName: string): UseStore {
  let db: Promise<IDBDatabase> | undefined;
  return (mode, callback) => {
    // Opened on first use, so that constructing a store in a module's top level costs nothing.
    db ??= (() => {
      const request = indexedDB.open(dbName);
      request.onupgradeneeded = () => request.result.createObjectStore(storeName);
      return promisifyRequest(request);
    })();
    return db.then((opened) =>
      callback(opened.transaction(storeName, mode, { durability: "strict" }).objectStore(storeName)),
    );
  };
}
