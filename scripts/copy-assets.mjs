#!/usr/bin/env node
// Copies the inspector's page, scripts and style sheet (src/inspector/assets: plain files, no
// bundler) into dist/inspector/assets, where the built server reads them. Run by `npm run build`.
import { cpSync, rmSync } from 'node:fs'
import { join, resolve } from 'node:path'

const root = resolve(import.meta.dirname, '..')
const from = join(root, 'src/inspector/assets')
const to = join(root, 'dist/inspector/assets')
rmSync(to, { recursive: true, force: true })
cpSync(from, to, { recursive: true })
