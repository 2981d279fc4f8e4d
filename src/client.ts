// tandemdb/client: a store served by `tandem serve`, with the Store API over HTTP (docs/http-api.md).
export { openRemoteStore, RemoteStore, RemoteTransaction, type RemoteStoreOptions, type RemoteCollectionOf } from './client/remote-store.js'
export { RemoteCollection } from './client/remote-collection.js'
export { RemoteChangeStream } from './client/remote-change-stream.js'
export { RemoteConsumer } from './client/remote-consumer.js'
