export { importPath, CHUNK_SIZE } from './import.ts'
export { parseContentPath, resolveEntry, cat, ls, get, type ContentPath, type ListedEntry, type ExportProgress } from './export.ts'
export { exportCar, importCar, type CarImportResult } from './car.ts'
export type { ContentBlockstore, ImportOptions, ImportProgress, ImportResult, ImportedEntry } from './types.ts'
