FROM scratch
COPPY a b
