import { createBlocks, type Blocks } from '../blocks/index.ts'
import { openRepo, parseSize, type Repo, type OpenRepoOptions } from '../repo/index.ts'

export interface WeftNode {
  readonly repo: Repo
  readonly blocks: Blocks
  stop(): Promise<void>
}

export interface CreateNodeOptions extends OpenRepoOptions {
  home: string
}

/**
 * The composition root. Today the node is its home and its block store; the network,
 * sites and gateway join here as they are built.
 */
export async function createNode (options: CreateNodeOptions): Promise<WeftNode> {
  const repo = await openRepo(options.home, options)
  try {
    // blocks needs the metadata db (index and pins share it) and the quota from config.
    const blocks = createBlocks({ db: repo.db, dir: repo.paths.blocks }, {
      storageMax: parseSize(repo.config.datastore.storageMax) as number,
      sync: repo.config.datastore.sync
    })
    let stopped = false
    return {
      repo,
      blocks,
      async stop () {
        if (stopped) return
        stopped = true
        try {
          await blocks.close()
        } finally {
          repo.close()
        }
      }
    }
  } catch (err) {
    repo.close()
    throw err
  }
}
