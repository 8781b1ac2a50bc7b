package codec

import (
	"crypto/subtle"
	"net/http"

	"go.temporal.io/sdk/converter"
)

// HTTPOptions configure the codec's HTTP endpoint (HTTPHandler).
type HTTPOptions struct {
	// Origin is the one browser origin allowed to call the endpoint
	// cross-origin: the Temporal UI's, such as http://127.0.0.1:8233.
	Origin string
	// Token, when set, is the bearer token every /encode and /decode
	// request must carry (Authorization: Bearer <token>). Empty means no
	// authentication, for a server listening on loopback only.
	Token string
}

// corsHeaders are the request headers the Temporal UI and the Temporal
// CLI send to a codec server: Authorization carries the bearer token.
const corsHeaders = "Authorization,Content-Type,X-Namespace"

// HTTPHandler serves c as a remote codec (POST /encode, /decode; the SDK's
// converter.NewPayloadCodecHTTPHandler) for the Temporal UI and CLI. Every
// response allows o.Origin, with credentials, and the Authorization
// header; a CORS preflight (OPTIONS) is answered without authentication,
// as browsers send it without credentials; every other request must carry
// the token when o.Token is set, else it gets 401.
func (c *Codec) HTTPHandler(o HTTPOptions) http.Handler {
	codec := converter.NewPayloadCodecHTTPHandler(c)
	want := []byte("Bearer " + o.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", o.Origin)
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Set("Access-Control-Allow-Headers", corsHeaders)
		h.Set("Access-Control-Allow-Methods", "POST,OPTIONS")
		h.Add("Vary", "Origin")
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if o.Token != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			h.Set("WWW-Authenticate", `Bearer realm="promoflow codec"`)
			http.Error(w, "unauthorized: want Authorization: Bearer <PROMOFLOW_CODEC_TOKEN>", http.StatusUnauthorized)
			return
		}
		codec.ServeHTTP(w, r)
	})
}
