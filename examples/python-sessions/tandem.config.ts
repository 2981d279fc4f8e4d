// `tandem` (serve, token, doctor...) run from this folder reads the same definition as the app.
export { default } from './store.ts'
