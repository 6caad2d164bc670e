"""``count-transitions``: a video model published as a third party would publish one (numpy only)."""
