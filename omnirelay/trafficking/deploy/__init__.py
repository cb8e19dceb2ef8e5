"""Deploying a ticket's campaign to its ad platform, as a delivery of kind ``deploy``.

``POST /api/v1/deploy`` writes the delivery in the transaction that answers 202, so an
accepted deploy is as durable as an accepted event; any worker claims it with a lease,
runs the platform client's steps (look the campaign up after a retry, create it), and
records every request. When the delivery ends, the ticket follows in the recording
transaction: TRAFFICKED_SUCCESS with the platform's id, or FAILED with the reason.
"""
