/**
 * The recovery phrase: the 32-byte user master key written as 24 words of BIP-39's English
 * list (256 bits of entropy and an 8-bit checksum, 11 bits a word). It is the key itself,
 * not a seed stretched into one, so the phrase and `keys/user.key` convert both ways and a
 * phrase restores exactly the ids the home had on every site.
 */
import { entropyToMnemonic, mnemonicToEntropy } from '@scure/bip39'
import { wordlist } from '@scure/bip39/wordlists/english.js'
import { WeftError } from '../errors.ts'

/** 256 bits of key and 8 of checksum, 11 bits a word (BIP-39). */
export const RECOVERY_PHRASE_WORDS = 24

/** The master key as 24 words. */
export function phraseOfMasterKey (master: Uint8Array): string {
  return entropyToMnemonic(master, wordlist)
}

/**
 * The master key a phrase spells. Case, extra spaces and line breaks are forgiven (a
 * phrase is copied from paper); a word not on the list, a wrong count or a failed
 * checksum is ERR_RECOVERY_PHRASE_INVALID, naming no word of the phrase.
 */
export function masterKeyOfPhrase (phrase: string): Uint8Array {
  const words = phrase.normalize('NFKD').toLowerCase().split(/\s+/).filter(w => w !== '')
  if (words.length !== RECOVERY_PHRASE_WORDS) {
    throw new WeftError('ERR_RECOVERY_PHRASE_INVALID', `a recovery phrase is ${RECOVERY_PHRASE_WORDS} words, not ${words.length}`)
  }
  const unknown = words.findIndex(w => !wordlist.includes(w))
  if (unknown >= 0) throw new WeftError('ERR_RECOVERY_PHRASE_INVALID', `word ${unknown + 1} of the recovery phrase is not on the BIP-39 English list: check its spelling`)
  try {
    return mnemonicToEntropy(words.join(' '), wordlist)
  } catch {
    throw new WeftError('ERR_RECOVERY_PHRASE_INVALID', 'the recovery phrase\'s checksum does not match: a word is wrong or two are swapped')
  }
}
