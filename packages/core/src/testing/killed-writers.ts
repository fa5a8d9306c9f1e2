// Writers killed mid-put, for tests of what they leave behind (temp files, unfinished uploads) in any
// package: the child processes live with the store's crash tests.
export {
  checkAllWhole,
  killUploaderMidUpload,
  killWriterRepeatedly,
} from '../storage/fixtures/crash-writer.js'
