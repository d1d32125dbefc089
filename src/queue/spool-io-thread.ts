/**
 * The spool's writing thread (see spool-io.ts): runs batches of file operations with plain
 * synchronous system calls, in order, and answers each batch with one message.
 *
 * A batch's commits are answered only after one fsync of their directory that started after
 * their own fsyncs, so a reply means the file and its directory entry are on disk: the same
 * promise the spool made when every step went through libuv's threadpool separately.
 */
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { RecycledFiles, unlinkIfPresent } from './spool-recycle.js';

export type SpoolOp =
  | {
      seq: number;
      kind: 'write';
      /** The writer (unique per SpoolIo): two writers given one id never share a descriptor. */
      writer: number;
      file: string;
      data: Uint8Array;
      /** The writer's first operation: the file is made (never over an existing one: see spool-recycle.ts). */
      create: boolean;
      /** The writer's last: fsync, close, then the directory fsync of the batch. */
      commit: boolean;
    }
  /** `created`: the writer's file was made by it (not refused with EEXIST), so it may go. */
  | { seq: number; kind: 'abort'; writer: number; file: string; created: boolean }
  | { seq: number; kind: 'unlink'; files: string[]; recycle?: string };

export interface SpoolBatch {
  ops: SpoolOp[];
}

export interface SpoolReply {
  done: { seq: number; error?: { message: string; code?: string } }[];
}

/** This thread's pool of free files (workerData.freeDir), or null: create and delete each time. */
const { freeDir } = (workerData ?? {}) as { freeDir?: string | null };
const recycled = freeDir ? new RecycledFiles(freeDir) : null;

/** Descriptors of the files being written, by writer, across batches (a large message comes in parts). */
const open = new Map<number, number>();

function run(op: SpoolOp, dirs: Set<string>): void {
  switch (op.kind) {
    case 'write': {
      let fd = open.get(op.writer);
      if (fd === undefined) {
        if (!op.create) throw new Error(`spool file ${op.file} is not open`);
        fd = recycled ? recycled.take(op.file) : openSync(op.file, 'wx', 0o600);
        open.set(op.writer, fd);
      }
      try {
        for (let at = 0; at < op.data.length; ) at += writeSync(fd, op.data, at, op.data.length - at);
        if (op.commit) fsyncSync(fd);
      } catch (error) {
        closeQuietly(op.writer);
        throw error;
      }
      if (op.commit) {
        open.delete(op.writer);
        closeSync(fd);
        dirs.add(path.dirname(op.file));
      }
      return;
    }
    case 'abort':
      closeQuietly(op.writer);
      // A writer refused with EEXIST must not remove the file that was there.
      if (op.created) remove(op.file);
      return;
    case 'unlink':
      if (op.recycle) remove(op.recycle);
      for (const file of op.files) unlinkIfPresent(file);
      return;
  }
}

function closeQuietly(writer: number): void {
  const fd = open.get(writer);
  if (fd === undefined) return;
  open.delete(writer);
  try {
    closeSync(fd);
  } catch {
    // Closing is all that is left to do with it; the caller reports the first error.
  }
}

function remove(file: string): void {
  if (recycled) recycled.give(file);
  else unlinkIfPresent(file);
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

parentPort!.on('message', ({ ops }: SpoolBatch) => {
  const done: SpoolReply['done'] = [];
  const dirs = new Set<string>();
  const committed: { at: number; file: string }[] = [];
  for (const op of ops) {
    try {
      run(op, dirs);
      if (op.kind === 'write' && op.commit) committed.push({ at: done.length, file: op.file });
      done.push({ seq: op.seq });
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      done.push({ seq: op.seq, error: { message: e.message, ...(e.code && { code: e.code }) } });
    }
  }
  // One directory fsync for every commit of the batch; if it fails, none of them is durable.
  for (const dir of dirs) {
    try {
      syncDir(dir);
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      // Not durable, so not acknowledged: the writers' abort() removes the files again.
      for (const { at } of committed) {
        done[at] = { seq: done[at]!.seq, error: { message: e.message, ...(e.code && { code: e.code }) } };
      }
    }
  }
  parentPort!.postMessage({ done } satisfies SpoolReply);
});
