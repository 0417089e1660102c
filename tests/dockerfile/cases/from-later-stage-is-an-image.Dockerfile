FROM later
FROM scratch AS later
