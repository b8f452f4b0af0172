package wallet

import "crypto"

const crypto256 = crypto.SHA256
