// Shows that the site's own script runs, on the site's own origin (<name>.ipns.localhost).
const status = document.getElementById('script-status')
if (status !== null) {
  status.textContent = `script ran on ${location.host}`
  status.classList.add('ran')
}
