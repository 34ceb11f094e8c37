// Structured JSON logs (pino). Children carry controller, object key and reconcile id.
// LOG_LEVEL picks the level (tests default to "warn" so mocha's output stays readable).

import { type Logger as PinoLogger, pino } from "pino";

export type Logger = PinoLogger;

export const rootLogger: Logger = pino({
  level: process.env.LOG_LEVEL ?? (process.env.npm_lifecycle_event === "test" ? "warn" : "info"),
  base: { app: "centaurus" },
});
