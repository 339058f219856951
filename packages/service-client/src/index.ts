export * from './types.js';
export { header, requestInfo } from './headers.js';
export { computeSignature, signedHeaders, verifyRequest, SIGNATURE_HEADER, TIMESTAMP_HEADER, type VerifyOptions, type VerifyResult, type VerifyFailure } from './signature.js';
export {
  reportCallback, callbackBody, CallbackRefused, UnknownCallbackToken, CallbackConflict, CallbackExpired, CallbackInvalid,
  CallbackUndelivered, type ReportCallbackOptions,
} from './callback.js';
export { pollAnswer, pollStarted, callbackAccepted, retryLater } from './answers.js';
