"""Redemption: the reward catalogue, gift stock, real-time redemption on every channel, quotes,
cancellation, fulfilment and pick-up, and pre-booked automatic redemption [R1]–[R4]."""
