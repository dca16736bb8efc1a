"""Revocation data from the network (SPEC 5.1): fetch within limits, check, cache, keep.

`service.Revocation` (held by the `Hub` as `hub.revocation`) is the entry point; `fetch` does
HTTP within the SPEC's limits, `checks` decides whether an answer is usable, `repository` and
`models` keep the answers in `revocation_answers`.
"""
