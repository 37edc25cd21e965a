"""A software passkey authenticator and the browser around it, for the OpenID Connect tests: it signs
up and signs in through Portcullis's own JSON API (the calls the sign-in page makes), keeping the
session cookie in a requests.Session like a browser would. Keys are real P-256 keys; flags are set
as a synced passkey (BE and BS) or a device-bound one (neither) sets them."""
import base64, hashlib, json, os, struct

import cbor2
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40


class Passkey:
    def __init__(self, device_bound=False):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(16)
        self.device_bound = device_bound
        self.sign_count = 0
        self.user_handle = None

    def flags(self):
        return UP | UV | (0 if self.device_bound else BE | BS)

    def cose(self):
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})


# Every session cookie a Browser was given: secrets no server log line may hold (conftest checks).
SEEN_COOKIES = set()


class Browser:
    """A requests.Session that speaks to Portcullis the way its pages do (Origin header, cookie jar)."""

    def __init__(self, origin):
        self.origin = origin
        self.rp_id = origin.split("://", 1)[1].split(":")[0]
        self.http = requests.Session()
        self.http.headers["Origin"] = origin

    def api(self, path, body):
        response = self.http.post(self.origin + path, json=body)
        SEEN_COOKIES.update(cookie.value for cookie in self.http.cookies)
        assert response.status_code in (200, 201), (path, response.status_code, response.text)
        return response.json()

    def client_data(self, kind, challenge):
        return json.dumps({"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": False}).encode()

    def register(self, options_path, verify_path, body, device_bound=False, transports=("internal",)):
        """A registration ceremony through the API: options, a new passkey's attestation ("none"), verify."""
        passkey = Passkey(device_bound)
        options = self.api(options_path, body)["publicKey"]
        passkey.user_handle = unb64u(options["user"]["id"])
        auth_data = (hashlib.sha256(self.rp_id.encode()).digest() + bytes([passkey.flags() | AT]) + struct.pack(">I", 0)
                     + bytes(16) + struct.pack(">H", len(passkey.credential_id)) + passkey.credential_id + passkey.cose())
        credential = {
            "id": b64u(passkey.credential_id), "rawId": b64u(passkey.credential_id), "type": "public-key",
            "response": {"clientDataJSON": b64u(self.client_data("webauthn.create", options["challenge"])),
                         "attestationObject": b64u(cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})),
                         "transports": list(transports)},
            "clientExtensionResults": {},
        }
        self.api(verify_path, {"credential": credential})
        return passkey

    def sign_up(self, username, device_bound=False):
        return self.register("/api/v1/signup/options", "/api/v1/signup/verify", {"username": username, "displayName": username.title()},
                             device_bound)

    def assertion(self, passkey, options):
        passkey.sign_count += 1
        auth_data = hashlib.sha256(self.rp_id.encode()).digest() + bytes([passkey.flags()]) + struct.pack(">I", passkey.sign_count)
        client_data = self.client_data("webauthn.get", options["challenge"])
        signature = passkey.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return {
            "id": b64u(passkey.credential_id), "rawId": b64u(passkey.credential_id), "type": "public-key",
            "response": {"clientDataJSON": b64u(client_data), "authenticatorData": b64u(auth_data), "signature": b64u(signature),
                         "userHandle": b64u(passkey.user_handle)},
            "clientExtensionResults": {}, "authenticatorAttachment": "platform",
        }

    def sign_in(self, passkey):
        options = self.api("/api/v1/login/options", {})["publicKey"]
        return self.api("/api/v1/login/verify", {"credential": self.assertion(passkey, options)})

    def add_passkey(self, device_bound):
        """Adds a second passkey to the signed-in account (the account page's "add a passkey")."""
        return self.register("/api/v1/me/passkeys/options", "/api/v1/me/passkeys/verify", {}, device_bound, transports=("usb",))

    def finish_recovery(self, case_id):
        """Completes a released recovery case with a new passkey (the recovery page's last step)."""
        return self.register(f"/api/v1/recovery/{case_id}/passkey/options", f"/api/v1/recovery/{case_id}/passkey/verify", {})
