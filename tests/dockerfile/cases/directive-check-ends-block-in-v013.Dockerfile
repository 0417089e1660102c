# check=skip=all
# escape=`
FROM scratch
