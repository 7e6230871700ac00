import type { Command } from 'commander'
import { printJson, printTable } from '../format.ts'
import { withApi, writeOut } from '../context.ts'
import { parseDurationArg } from './content.ts'

export function registerNameCommands (program: Command): void {
  const name = program.command('name').description('human-readable names: petnames of this home, and what names resolve to')

  name.command('set')
    .description('give an address a petname (local and private; it wins over the same name anywhere else)')
    .argument('<petname>', 'e.g. blog, or my.friend')
    .argument('<address>', 'k51…, a CID, /ipfs/…, /ipns/… or another name')
    .option('--json', 'print { "name", "value", "created" }')
    .action(async (petname: string, address: string, opts: { json?: boolean }, cmd: Command) => {
      await withApi(cmd, async api => {
        const set = await api.nameSet(petname, address)
        if (opts.json === true) printJson(set)
        else await writeOut(`${set.name} → ${set.value}\n`)
      })
    })

  name.command('rm')
    .description('remove a petname')
    .argument('<petname>')
    .action(async (petname: string, _opts: unknown, cmd: Command) => {
      await withApi(cmd, async api => { await api.nameRm(petname) })
    })

  name.command('ls')
    .description('this home\'s petnames')
    .option('--json', 'print [{ "name", "value", "created" }]')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withApi(cmd, async api => {
        const names = await api.nameLs()
        if (opts.json === true) printJson(names)
        else if (names.length === 0) await writeOut('no petnames yet: weft name set <petname> <address>\n')
        else printTable(names.map(n => [n.name, n.value]))
      })
    })

  name.command('resolve')
    .description('what a name points at, which resolver answered, whether the answer was proven, and its TTL')
    .argument('<name>', 'a petname, a DNS name with DNSLink, or a name on a configured chain')
    .option('--fresh', 'ask again even when a cached answer is within its TTL')
    .option('--timeout <duration>', 'give up after this long', parseDurationArg)
    .option('--json', 'print { "value", "resolver", "proven", "ttl", "proof", "via" } (ttl in ms)')
    .action(async (text: string, opts: { fresh?: boolean, timeout?: number, json?: boolean }, cmd: Command) => {
      await withApi(cmd, async api => {
        const r = await api.nameResolve(text, opts)
        if (opts.json === true) {
          printJson(r)
          return
        }
        const trust = r.proven
          ? `proven${r.proof === undefined ? '' : ` (${r.proof})`}`
          : r.resolver === 'dnslink' ? 'not proven: DNS is not decentralized; whoever runs the domain decides' : r.resolver === 'petname' ? 'your own petname'
            // a chain's answer accepted unproven (acceptUnproven or verify: none) says why
            : `not proven${r.proof === undefined ? '' : `: ${r.proof.replace(/^not proven: /, '')}`}`
        await writeOut(`${r.value}\nresolver ${r.resolver}${r.via.length > 1 ? ` (via ${r.via.join(' → ')})` : ''}\n${trust}\nttl      ${Math.round(r.ttl / 1000)} s\n`)
      })
    })
}
