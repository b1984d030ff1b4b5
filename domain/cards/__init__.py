"""Membership cards: stock down the branch hierarchy [K1]–[K3] and the member card lifecycle [K4]–[K5]."""
