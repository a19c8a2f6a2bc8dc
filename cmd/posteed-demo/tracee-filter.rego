package postee

# A Tracee finding in either shape: legacy (SigMetadata) or current
# (metadata.Properties.signatureID).
allow if startswith(input.SigMetadata.ID, "TRC-")

allow if startswith(input.metadata.Properties.signatureID, "TRC-")
