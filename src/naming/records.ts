/**
 * What an owner sets so that a name points at a site: the record for each system a name
 * can live on (`weft publish --name` prints them). weft cannot set them itself: each
 * system's owner signs with a key weft does not hold (an Ethereum account, a Handshake
 * wallet, a DNS provider's login).
 */
import { toHex } from 'viem'
import { encodeContenthash } from './ens-contenthash.ts'
import { normalizeName } from './names.ts'

export interface NameRecords {
  name: string
  /** `*.eth`: the resolver's contenthash (EIP-1577), as 0x-hex. */
  ens?: { contenthash: string }
  /** `*.bit`: the Namecoin name and the value for `name_update` (domain-name JSON). */
  namecoin?: { name: string, value: string, update: string }
  /** A single-label name: a Handshake TLD's TXT record. */
  hns?: { txt: string, update: string }
  /** Any other DNS name: a TXT record at `_dnslink.<name>`. */
  dnslink?: { host: string, txt: string }
}

/** The records that make `name` point at `value` (`/ipns/k51…` or `/ipfs/<cid>`). */
export function recordsFor (nameText: string, value: string): NameRecords {
  const name = normalizeName(nameText)
  const txt = `dnslink=${value}`
  if (name.endsWith('.eth')) return { name, ens: { contenthash: toHex(encodeContenthash(value)) } }
  if (name.endsWith('.bit')) {
    // d/<label> holds the name; a subdomain's link goes under map.<sub> (map.<a>.map.<b> for a.b.label.bit)
    const labels = name.slice(0, -'.bit'.length).split('.')
    const label = labels.pop() as string
    let json: Record<string, unknown> = { txt: txt }
    for (const sub of labels) json = { map: { [sub]: json } }
    const valueJson = JSON.stringify(json)
    return { name, namecoin: { name: `d/${label}`, value: valueJson, update: `namecoin-cli name_update d/${label} '${valueJson}'` } }
  }
  if (!name.includes('.')) {
    return { name, hns: { txt, update: `hsw-rpc sendupdate ${name} '${JSON.stringify({ records: [{ type: 'TXT', txt: [txt] }] })}'` } }
  }
  return { name, dnslink: { host: `_dnslink.${name}`, txt } }
}
