// `tandem` run from this folder uses the app's own definition: the same schemas validate its
// writes, and it knows the same migrations, so it never finds the store "too new".
export { default } from './store.ts'
