// `tandem` (status, find, put...) run from this folder reads the same definition as the app.
export { default } from './store.ts'
