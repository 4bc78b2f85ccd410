package entra

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/idshift/idshift"
)

// Namespace spellings of the action type (docs/contracts.md §1.5): microsoft.graph.{namespace}.{Action}.
const (
	// NamespaceDocumented is the documented contract's spelling, the default.
	NamespaceDocumented = "passwordSubmit"
	// NamespaceSample is the spelling of Microsoft's sample code.
	NamespaceSample = "passwordsubmit"
)

// ResponseDataType is the @odata.type of the response's data.
const ResponseDataType = "microsoft.graph.onPasswordSubmitResponseData"

// CalloutResponse is the body of the answer to a callout: exactly one action and the nonce, inside data.
type CalloutResponse struct {
	Data CalloutResponseData `json:"data"`
}

// CalloutResponseData is the data member of a response.
type CalloutResponseData struct {
	ODataType string           `json:"@odata.type"`
	Actions   []ResponseAction `json:"actions"`
	Nonce     string           `json:"nonce"`
}

// ResponseAction is one action; Title and Message are sent with Block only.
type ResponseAction struct {
	ODataType string `json:"@odata.type"`
	Title     string `json:"title,omitempty"`
	Message   string `json:"message,omitempty"`
}

// ActionType returns the @odata.type of an action: microsoft.graph.{namespace}.{action}, namespace "" meaning
// NamespaceDocumented. Errors for an action that is not one of the four, or another namespace.
func ActionType(action idshift.Action, namespace string) (string, error) {
	switch namespace {
	case "":
		namespace = NamespaceDocumented
	case NamespaceDocumented, NamespaceSample:
	default:
		return "", fmt.Errorf("entra: action namespace %q: want %q or %q", namespace, NamespaceDocumented, NamespaceSample)
	}
	switch action {
	case idshift.ActionMigrate, idshift.ActionUpdate, idshift.ActionRetry, idshift.ActionBlock:
	default:
		return "", fmt.Errorf("entra: unknown action %q", action)
	}
	return "microsoft.graph." + namespace + "." + string(action), nil
}

// EncodeResponse returns the JSON body of the answer (docs/contracts.md §1.5):
//
//	{"data":{"@odata.type":"microsoft.graph.onPasswordSubmitResponseData",
//	  "actions":[{"@odata.type":"microsoft.graph.passwordSubmit.Block","title":"…","message":"…"}],"nonce":"…"}}
//
// blockTitle and blockMessage are sent with ActionBlock only (each omitted when empty). Errors as ActionType.
func EncodeResponse(action idshift.Action, nonce, blockTitle, blockMessage, namespace string) ([]byte, error) {
	t, err := ActionType(action, namespace)
	if err != nil {
		return nil, err
	}
	a := ResponseAction{ODataType: t}
	if action == idshift.ActionBlock {
		a.Title, a.Message = blockTitle, blockMessage
	}
	return json.Marshal(CalloutResponse{Data: CalloutResponseData{
		ODataType: ResponseDataType, Actions: []ResponseAction{a}, Nonce: nonce,
	}})
}

// WriteResponse answers a callout: status 200, Content-Type exactly application/json, the body of
// EncodeResponse. For an unknown action or namespace it returns the error and writes nothing, so the caller can
// still answer; otherwise the only error is the connection's.
func WriteResponse(w http.ResponseWriter, action idshift.Action, nonce, blockTitle, blockMessage, namespace string) error {
	b, err := EncodeResponse(action, nonce, blockTitle, blockMessage, namespace)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("entra: write response: %w", err)
	}
	return nil
}
