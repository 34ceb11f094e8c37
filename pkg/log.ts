// Structured logs (pino). Children carry controller, object key and reconcile id.
// LOG_LEVEL picks the level (tests default to "warn" so mocha's output stays readable).
// Lines are JSON (for log collectors) unless setLogFormat picks text: one human-readable
// line per entry (pino-pretty), which the CLI does on a terminal (--log-format auto).

import { type Logger as PinoLogger, pino } from "pino";
import { prettyFactory } from "pino-pretty";

export type Logger = PinoLogger;

export const LOG_FORMATS = ["auto", "text", "json"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

interface Sink {
  write(line: string): unknown;
}

/** Where the root logger's lines go, and how they are shaped; switched by setLogFormat. */
const output: { to: Sink; shape: (line: string) => string } = {
  to: process.stdout,
  shape: (line) => line,
};

export const rootLogger: Logger = pino(
  {
    level: process.env.LOG_LEVEL ?? (process.env.npm_lifecycle_event === "test" ? "warn" : "info"),
    base: { app: "centaurus" },
  },
  { write: (line: string) => output.to.write(output.shape(line)) },
);

/** The --log-format value, or an error that says which values there are. */
export function parseLogFormat(value: string | undefined): LogFormat {
  const v = value ?? "auto";
  if ((LOG_FORMATS as readonly string[]).includes(v)) return v as LogFormat;
  throw new Error(
    `bad --log-format "${v}": use ${LOG_FORMATS.join(", ")} (auto: text on a terminal, else json)`,
  );
}

/**
 * Shapes every logger's lines (children included, made before or after) as text or JSON;
 * "auto" is text when the output is a terminal. Returns the format chosen.
 */
export function setLogFormat(format: LogFormat, opts: { to?: Sink; tty?: boolean } = {}): "text" | "json" {
  const to = opts.to ?? process.stdout;
  const tty = opts.tty ?? (to === process.stdout && process.stdout.isTTY === true);
  const chosen = format === "auto" ? (tty ? "text" : "json") : format;
  output.to = to;
  if (chosen === "json") {
    output.shape = (line) => line;
  } else {
    const pretty = prettyFactory({
      colorize: tty,
      translateTime: "SYS:HH:MM:ss.l",
      ignore: "pid,hostname,app",
      singleLine: true,
    });
    output.shape = (line) => pretty(line);
  }
  return chosen;
}
