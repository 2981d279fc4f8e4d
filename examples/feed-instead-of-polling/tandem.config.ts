// `tandem` run from this folder (watch, put, status, doctor...) reads the same definition as the app.
export { default } from './store.ts'
