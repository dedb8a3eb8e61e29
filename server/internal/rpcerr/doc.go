// Package rpcerr builds the gRPC status errors that the storefront services share: INVALID_ARGUMENT
// with a google.rpc.BadRequest detail, FAILED_PRECONDITION with a google.rpc.PreconditionFailure
// detail, and the conversion of protovalidate results into the former.
//
// Every message and description built here reaches clients verbatim, so none may carry internal
// details.
package rpcerr
