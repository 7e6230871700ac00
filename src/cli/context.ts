import { once } from 'node:events'
import type { Command } from 'commander'
import { createNode, type WeftNode } from '../node/index.ts'
import { defaultHome } from '../repo/index.ts'

export interface GlobalOptions {
  home?: string
}

export function homeOf (cmd: Command): string {
  const opts = cmd.optsWithGlobals<GlobalOptions>()
  return opts.home ?? defaultHome()
}

/** Opens the home (creating it on first use), runs fn, and always closes it. */
export async function withNode<T> (cmd: Command, fn: (node: WeftNode) => Promise<T>): Promise<T> {
  const node = await createNode({ home: homeOf(cmd) })
  try {
    return await fn(node)
  } finally {
    await node.stop()
  }
}

/** Writes to stdout, waiting when the pipe is full. */
export async function writeOut (chunk: Uint8Array | string): Promise<void> {
  if (!process.stdout.write(chunk)) await once(process.stdout, 'drain')
}
