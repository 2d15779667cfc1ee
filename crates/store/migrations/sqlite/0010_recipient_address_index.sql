-- Text-message replies name only the sender's phone number: find the recipient by it.
CREATE INDEX recipients_by_address ON recipients(channel, address);
