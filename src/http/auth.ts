import { timingSafeEqual } from 'node:crypto'
import { WeftError } from '../errors.ts'

/** Throws ERR_API_UNAUTHORIZED unless the request carries `Authorization: Bearer <token>` (compared in constant time). */
export function assertAuthorized (request: Request, token: string): void {
  const expected = Buffer.from(`Bearer ${token}`)
  const given = Buffer.from(request.headers.get('authorization') ?? '')
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new WeftError('ERR_API_UNAUTHORIZED', 'missing or wrong API token')
  }
}
