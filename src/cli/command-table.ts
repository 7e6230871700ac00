/**
 * Every top-level command, the module that declares it, and the line `weft --help` shows
 * for it. A command loads only its own module (and what that module needs), so `weft
 * --version`, `weft --help` and a command that asks the daemon start in tens of ms
 * instead of loading the whole node first. test/cli/help.test.ts checks that these lines
 * agree with what the modules declare.
 */
import type { Command } from 'commander'

export type Register = (program: Command) => void

export interface CommandGroup {
  /** Imports the module and hands back the function that declares its commands. */
  load(): Promise<Register>
  /** Its top-level commands, in the order the module declares them: [term, description]. */
  commands: Array<[term: string, description: string]>
}

/** In the order `weft --help` lists them. */
export const COMMAND_GROUPS: CommandGroup[] = [
  {
    load: async () => (await import('./commands/repo.ts')).registerRepoCommands,
    commands: [
      ['init [options]', 'create a weft home (config, identity key, metadata db)'],
      ['repo', 'inspect and check the home'],
      ['config', 'read and change config.json (see docs/config.md)']
    ]
  },
  {
    load: async () => (await import('./commands/content.ts')).registerContentCommands,
    commands: [
      ['add [options] <paths...>', 'import files or folders as UnixFS (CIDv1, raw leaves, 1 MiB chunks) and pin them'],
      ['cat [options] <path>', 'write a file\'s bytes to stdout, fetching missing blocks from peers when the daemon runs'],
      ['get [options] <path>', 'write a file or folder to disk, byte-identical to what was added, fetching missing blocks from peers'],
      ['ls [options] <path>', 'list a folder\'s entries']
    ]
  },
  {
    load: async () => (await import('./commands/pin.ts')).registerPinCommands,
    commands: [
      ['pin', 'keep content from garbage collection'],
      ['gc [options]', 'delete every block that no pin reaches and reclaim its space']
    ]
  },
  {
    load: async () => (await import('./commands/remote.ts')).registerRemoteCommands,
    commands: [['remote', 'remote pinning services (the IPFS Pinning Service API): keep content on another node or a pinning service']]
  },
  {
    load: async () => (await import('./commands/car.ts')).registerCarCommands,
    commands: [['car', 'CARv1 archives']]
  },
  {
    load: async () => (await import('./commands/net.ts')).registerNetCommands,
    commands: [
      ['daemon', 'run the node: peers, DHT, block exchange, and the control API the other commands use'],
      ['id [options]', 'this node\'s peer id and, when the daemon runs, its addresses'],
      ['peers [options]', 'the peers connected to the daemon, with their round-trip latency'],
      ['connect <multiaddr>', 'dial a peer by multiaddr (…/p2p/<peer id>)']
    ]
  },
  {
    load: async () => (await import('./commands/sites.ts')).registerSiteCommands,
    commands: [
      ['site', 'your own sites: keys, addresses, backups; and what is known of any site'],
      ['publish [options] <dir>', 'add a folder and sign it as the site\'s next version; with the daemon running it goes out at once, else when the daemon starts'],
      ['resolve [options] <name>', 'the newest valid version of a site: /ipfs/<root>'],
      ['follow [options] <name>', 'subscribe to a site: each new version is fetched, kept and served to others as it is published'],
      ['unfollow <name>', 'stop following a site; the versions it held become garbage for `weft gc`'],
      ['following [options]', 'the sites this node follows']
    ]
  },
  {
    load: async () => (await import('./commands/storage.ts')).registerStorageCommands,
    commands: [
      ['replicate [options] <target>', 'ask the peers closest to a site or CID that offer storage to hold it; they are audited and replaced when they fail'],
      ['replicas [options] [target]', 'who holds what this node replicated (last audit, bytes each side), and what it holds for others']
    ]
  },
  {
    load: async () => (await import('./commands/names.ts')).registerNameCommands,
    commands: [['name', 'human-readable names: petnames of this home, and what names resolve to']]
  },
  {
    load: async () => (await import('./commands/users.ts')).registerUserCommands,
    commands: [['user', 'you as a user of sites: one master key per home, a different id on every site']]
  },
  {
    load: async () => (await import('./commands/private.ts')).registerPrivateCommands,
    commands: [['private', 'your private files on a site: sealed on this node before they are stored, readable only with your user key (and on your linked devices)']]
  },
  {
    load: async () => (await import('./commands/messages.ts')).registerMessageCommands,
    commands: [['message', 'sealed messages to other users of a site: only the recipient can open them, and their sender is proven inside']]
  },
  {
    load: async () => (await import('./commands/demo.ts')).registerDemoCommand,
    commands: [['demo [options]', 'run a demo network of 10 nodes on 127.0.0.1 (temporary homes): node 1 publishes the sample site and the sample forum, nodes 2 to 6 follow them, 7 to 10 offer storage, node 6\'s gateway serves it to your browser, also under a petname and (with hsd installed) a Handshake name on a regtest chain it starts; then live drills (an update, the owner going offline, replicas outliving the followers, and with tor installed a follower behind a censor reached through a relay and Tor), until Ctrl-C']]
  }
]

/** A command's name: the first word of its term. */
export const nameOf = (term: string): string => term.split(' ')[0]

/**
 * The command that `argv` runs (the first word that is not a global option, or the one
 * after `help`), if any.
 */
export function commandNameIn (argv: string[]): string | undefined {
  let afterHelp = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--') return argv[i + 1]
    if (arg === '--home') { i++; continue }
    if (arg.startsWith('-')) continue
    if (arg === 'help' && !afterHelp) { afterHelp = true; continue }
    return arg
  }
  return undefined
}
