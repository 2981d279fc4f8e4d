/** Calls `fn` and returns its outcome as a promise: a synchronous throw becomes a rejection. */
export function settle<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return Promise.resolve(fn())
  } catch (error) {
    return Promise.reject(error)
  }
}
