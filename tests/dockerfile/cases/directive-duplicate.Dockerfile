# escape=`
# ESCAPE=`
FROM scratch
