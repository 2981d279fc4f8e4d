// One record per activity of a training session, written by two processes: the editor's
// auto-save writes its content fields, the timer API its time fields. There is no second copy of
// the activity (no JSON blob beside a table) and so no sync job that could delete one side's data.
import { join } from 'node:path'
import { defineStore } from 'tandemdb'
import { z } from 'zod'

/** Written by the editor only. */
export const ContentFields = z.object({
  title: z.string(),
  notes: z.string(),
  sets: z.array(z.object({ reps: z.number().int(), weightKg: z.number() })),
  /** How many auto-saves the editor has made: lets the example prove no save was rolled back. */
  editorRev: z.number().int(),
})

/** Written by the timer API only. */
export const TimeFields = z.object({
  timeStart: z.number().nullable(),
  timeStop: z.number().nullable(),
  elapsedMs: z.number(),
  timerRev: z.number().int(),
})

export const Activity = z.object({ ...ContentFields.shape, ...TimeFields.shape })
export type Activity = z.infer<typeof Activity>
export const CONTENT_FIELDS = Object.keys(ContentFields.shape) as (keyof Activity)[]
export const TIME_FIELDS = Object.keys(TimeFields.shape) as (keyof Activity)[]

export const ACTIVITY_ID = 'session-1/squats'

export default defineStore({
  // Your app's data directory; main.ts points APP_DATA_DIR at a fresh folder for each run.
  dataDir: process.env.APP_DATA_DIR ?? join(import.meta.dirname, 'data'),
  path: 'training.db',
  collections: {
    activities: {
      writers: ['editor', 'timer'],
      schema: Activity,
      // Every version stays in the change log, so main.ts can check each write; by default the log
      // keeps only each record's latest change.
      history: 'full',
      seed: [
        {
          id: ACTIVITY_ID,
          data: { title: 'Squats', notes: '', sets: [], editorRev: 0, timeStart: null, timeStop: null, elapsedMs: 0, timerRev: 0 },
        },
      ],
    },
  },
})
