package mediaelements

import (
	"errors"
	"fmt"
)

// Error is a Kurento domain error: a numeric code and the type name that
// Kurento puts in the JSON-RPC error's data.type. Only the rpc package turns
// it into a JSON-RPC error; everything below it returns *Error values.
type Error struct {
	Code    int
	Type    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%s (%d): %s", e.Type, e.Code, e.Message) }

// Kurento error codes (KurentoException.hpp), the ones Miksilo raises.
const (
	CodeMarshall              = 40001
	CodeUnexpected            = 40003
	CodeConnect               = 40004
	CodeUnsupportedMediaType  = 40005
	CodeNotImplemented        = 40006
	CodeInvalidSession        = 40007
	CodeMalformedTransaction  = 40008
	CodeNotEnoughResources    = 40009
	CodeObjectNotFound        = 40101
	CodeEventNotSupported     = 40106
	CodeIllegalParam          = 40107
	CodeNotAvailable          = 40108
	CodeNotFoundNoCommit      = 40109
	CodeTagKeyNotFound        = 40110
	CodeOperationNotSupported = 40111
	CodeKmdNotFound           = 40500
)

// SDP and ICE error codes (SdpEndpoint, WebRtcEndpoint).
const (
	CodeSDPCreate            = 40200
	CodeSDPParse             = 40201
	CodeSDPNoLocal           = 40202
	CodeSDPNoRemote          = 40203
	CodeSDPGenerateOffer     = 40204
	CodeSDPProcessOffer      = 40205
	CodeSDPProcessAnswer     = 40206
	CodeSDPAlreadyNegotiated = 40208
	CodeSDPNotOfferGenerated = 40209
	CodeSDPAnswerProcessed   = 40210
	CodeSDPCannotCreateSess  = 40211
	CodeICEGatherCandidates  = 40400
	CodeICEAddCandidate      = 40401
)

var codeTypes = map[int]string{
	CodeMarshall:              "MARSHALL_ERROR",
	CodeUnexpected:            "UNEXPECTED_ERROR",
	CodeConnect:               "CONNECT_ERROR",
	CodeUnsupportedMediaType:  "UNSUPPORTED_MEDIA_TYPE",
	CodeNotImplemented:        "NOT_IMPLEMENTED",
	CodeInvalidSession:        "INVALID_SESSION",
	CodeMalformedTransaction:  "MALFORMED_TRANSACTION",
	CodeNotEnoughResources:    "NOT_ENOUGH_RESOURCES",
	CodeObjectNotFound:        "MEDIA_OBJECT_NOT_FOUND",
	CodeEventNotSupported:     "MEDIA_OBJECT_EVENT_NOT_SUPPORTED",
	CodeIllegalParam:          "MEDIA_OBJECT_ILLEGAL_PARAM_ERROR",
	CodeNotAvailable:          "MEDIA_OBJECT_NOT_AVAILABLE",
	CodeNotFoundNoCommit:      "MEDIA_OBJECT_NOT_FOUND_TRANSACTION_NO_COMMIT",
	CodeTagKeyNotFound:        "MEDIA_OBJECT_TAG_KEY_NOT_FOUND",
	CodeOperationNotSupported: "MEDIA_OBJECT_OPERATION_NOT_SUPPORTED",
	CodeKmdNotFound:           "SERVER_MANAGER_ERROR_KMD_NOT_FOUND",
	CodeSDPCreate:             "SDP_CREATE_ERROR",
	CodeSDPParse:              "SDP_PARSE_ERROR",
	CodeSDPNoLocal:            "SDP_END_POINT_NO_LOCAL_SDP_ERROR",
	CodeSDPNoRemote:           "SDP_END_POINT_NO_REMOTE_SDP_ERROR",
	CodeSDPGenerateOffer:      "SDP_END_POINT_GENERATE_OFFER_ERROR",
	CodeSDPProcessOffer:       "SDP_END_POINT_PROCESS_OFFER_ERROR",
	CodeSDPProcessAnswer:      "SDP_END_POINT_PROCESS_ANSWER_ERROR",
	CodeSDPAlreadyNegotiated:  "SDP_END_POINT_ALREADY_NEGOTIATED",
	CodeSDPNotOfferGenerated:  "SDP_END_POINT_NOT_OFFER_GENERATED",
	CodeSDPAnswerProcessed:    "SDP_END_POINT_ANSWER_ALREADY_PROCCESED",
	CodeSDPCannotCreateSess:   "SDP_END_POINT_CANNOT_CREATE_SESSON",
	CodeICEGatherCandidates:   "ICE_GATHER_CANDIDATES_ERROR",
	CodeICEAddCandidate:       "ICE_ADD_CANDIDATE_ERROR",
}

// NewError builds a domain error with the Kurento type name for code.
func NewError(code int, format string, args ...any) *Error {
	t, ok := codeTypes[code]
	if !ok {
		t = "UNEXPECTED_ERROR"
	}
	return &Error{Code: code, Type: t, Message: fmt.Sprintf(format, args...)}
}

// AsError reports err as a domain error; anything else becomes nil.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

func errNotFound(id string) *Error {
	return NewError(CodeObjectNotFound, "Object '%s' not found", id)
}

func errMarshal(param, typ string) *Error {
	if typ == "String" {
		typ = "string" // KMS's wording: "'offer' parameter should be a string"
	}
	return NewError(CodeMarshall, "'%s' parameter should be a %s", param, typ)
}

func errMethodNotFound(name string, nparams int) *Error {
	return NewError(CodeMalformedTransaction, "Method '%s' with %d parameters not found", name, nparams)
}
