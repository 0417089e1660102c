# foo=bar
# escape=`
FROM scratch
