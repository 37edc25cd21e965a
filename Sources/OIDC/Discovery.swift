import Foundation
import WebAuthn

extension OIDCProvider {
    /// The provider's metadata (OpenID Connect Discovery 1.0 §3, RFC 8414 §2): only what is implemented.
    public var metadata: JSONValue {
        let s = settings
        let strings = { (values: [String]) in JSONValue.array(values.map(JSONValue.string)) }
        let algorithms = strings(SigningAlgorithm.allCases.map(\.rawValue))
        return .object(JSONObject([
            ("issuer", .string(s.issuer)),
            ("authorization_endpoint", .string(s.authorizationEndpoint)),
            ("token_endpoint", .string(s.tokenEndpoint)),
            ("userinfo_endpoint", .string(s.userinfoEndpoint)),
            ("jwks_uri", .string(s.jwksURI)),
            ("revocation_endpoint", .string(s.revocationEndpoint)),
            ("introspection_endpoint", .string(s.introspectionEndpoint)),
            ("end_session_endpoint", .string(s.endSessionEndpoint)),
            ("pushed_authorization_request_endpoint", .string(s.pushedAuthorizationRequestEndpoint)),
            ("device_authorization_endpoint", .string(s.deviceAuthorizationEndpoint)),
            ("require_pushed_authorization_requests", .bool(false)),
            ("scopes_supported", strings(AuthorizationRequestParser.supportedScopes)),
            ("response_types_supported", strings(["code"])),
            ("response_modes_supported", strings(["query"])),
            ("grant_types_supported", strings(Self.grantTypes)),
            ("subject_types_supported", strings(["public", "pairwise"])),
            ("id_token_signing_alg_values_supported", algorithms),
            ("userinfo_signing_alg_values_supported", strings([])),
            ("request_object_signing_alg_values_supported", strings([])),
            ("token_endpoint_auth_methods_supported", strings(["client_secret_basic", "client_secret_post", "none"])),
            ("revocation_endpoint_auth_methods_supported", strings(["client_secret_basic", "client_secret_post", "none"])),
            ("introspection_endpoint_auth_methods_supported", strings(["client_secret_basic", "client_secret_post"])),
            ("code_challenge_methods_supported", strings(["S256"])),
            ("acr_values_supported", strings(Assurance.acrValuesSupported)),
            ("claims_supported", strings(["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "sid", "at_hash",
                                          "name", "preferred_username"])),
            ("claims_parameter_supported", .bool(true)),
            ("request_parameter_supported", .bool(false)),
            ("request_uri_parameter_supported", .bool(false)),
            ("require_request_uri_registration", .bool(true)),
            ("authorization_response_iss_parameter_supported", .bool(true)),
            ("dpop_signing_alg_values_supported", algorithms),
            ("prompt_values_supported", strings(["none", "login", "consent", "select_account"])),
            ("display_values_supported", strings(["page"])),
            ("frontchannel_logout_supported", .bool(false)),
            ("backchannel_logout_supported", .bool(true)),
            ("backchannel_logout_session_supported", .bool(true)),
        ]))
    }
}
