// The XAPI client. XapiClient holds a session with a pool (re-login, master and failover handling);
// callAsync/waitTask run Async.* calls as tasks; XapiEventLoop keeps an ObjectCache of the pool's
// objects from event.from; vdi-calls and vm-calls wrap what a backup does (snapshots, CBT, NBD info,
// HTTP transfers); xapi-records holds the small reads (records, disks of a VM) and the retry every undo
// call needs. Errors from XAPI are XapiError with XAPI's code and params. Hosts are trusted by their
// pinned certificate fingerprints (PoolTrust, pool-certificate), never by CA chains.
export * from './xapi-error.js'
export * from './pool-certificate.js'
export * from './pool-trust.js'
export * from './xapi-client.js'
export * from './json-rpc-transport.js'
export * from './tasks.js'
export * from './object-cache.js'
export * from './event-loop.js'
export * from './http-transfer.js'
export * from './vdi-calls.js'
export * from './vm-calls.js'
export * from './xapi-records.js'
export * from './codec/xmlrpc-value.js'
export * from './codec/cbt-bitmap.js'
export * from './codec/chunked-frames.js'
